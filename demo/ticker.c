/*
 * ticker: the demo's example program.  It keeps state ferry must carry over
 * (a counter in memory, a heap buffer with a checksum, an open log file with
 * its offset) and prints one line a tick, so a person watching the log sees
 * the count carry on across a dump and a restore.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	FILE *log;
	size_t n = 64 << 20;
	uint64_t *heap, expect = 0, check;
	unsigned long tick = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: ticker LOGFILE\n");
		return 2;
	}
	setsid();
	log = fopen(argv[1], "a");
	heap = malloc(n);
	if (!log || !heap)
		return 1;
	setvbuf(log, NULL, _IOLBF, 0);
	for (size_t i = 0; i < n / 8; i++)
		heap[i] = i * 0x9e3779b97f4a7c15ULL;
	for (size_t i = 0; i < n / 8; i += 512)
		expect += heap[i];
	for (;;) {
		struct timespec ts = { 0, 250 * 1000 * 1000 };
		check = 0;
		for (size_t i = 0; i < n / 8; i += 512)
			check += heap[i];
		fprintf(log, "tick %lu  pid %d  heap %s\n", tick++, getpid(),
			check == expect ? "intact" : "CORRUPT");
		nanosleep(&ts, NULL);
	}
}
