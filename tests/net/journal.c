/* journal - holds a file open the way a database holds its rollback
 * journal, for tests/net/migrate.sh.
 * Usage: journal FILE READY [FIFO]
 * Opens FILE (created), then creates READY.  With FIFO it reads FIFO to its
 * end (ferry migrate writes it once its survey is done, see
 * FERRY_TEST_AFTER_SURVEY), closes and removes FILE (the journal is gone
 * before the freeze), then opens FIFO for writing and closes it, which lets
 * ferry go on.  Without FIFO it keeps FILE open.  Then it waits forever. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char c;
	int fd, f;
	if (argc < 3)
		return 2;
	setsid();
	if ((fd = open(argv[1], O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 || write(fd, "j", 1) != 1)
		return perror(argv[1]), 1;
	if ((f = open(argv[2], O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return perror(argv[2]), 1;
	close(f);
	if (argc > 3) {
		if ((f = open(argv[3], O_RDONLY | O_CLOEXEC)) < 0)
			return perror(argv[3]), 1;
		while (read(f, &c, 1) > 0)
			;
		close(f);
		close(fd);
		unlink(argv[1]);
		if ((f = open(argv[3], O_WRONLY | O_CLOEXEC)) < 0)
			return perror(argv[3]), 1;
		close(f);
	}
	for (;;)
		pause();
}
