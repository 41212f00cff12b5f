/*
 * ferry show: a readable summary of an image (process, threads, memory map
 * with sizes, fds with their sockets' addresses, signals), or with --json the
 * full metadata: the manifest and every process's core file in one JSON
 * document.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "image.h"
#include "ipmap.h"
#include "log.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: ferry show -D|--dir DIR [--json]\n");
}

static uint64_t hexval(json_t *o, const char *key)
{
	uint64_t v = 0;
	jget_u64(o, key, &v);
	return v;
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "?";
}

static void human(char *buf, size_t len, uint64_t bytes)
{
	if (bytes >= (1ULL << 30))
		snprintf(buf, len, "%.1fG", bytes / (double)(1ULL << 30));
	else if (bytes >= (1ULL << 20))
		snprintf(buf, len, "%.1fM", bytes / (double)(1ULL << 20));
	else
		snprintf(buf, len, "%" PRIu64 "K", bytes >> 10);
}

/* "[ADDR]:PORT" or "ADDR:PORT" from an inet socket's key and port key */
static const char *endpoint(json_t *o, const char *key, const char *pkey, char *buf, size_t len)
{
	struct ip_addr a;
	const char *s = str(o, key);
	int v6 = ip_parse(s, &a) == 0 && a.family == AF_INET6;
	snprintf(buf, len, "%s%s%s:%lld", v6 ? "[" : "", s, v6 ? "]" : "", (long long)json_integer_value(json_object_get(o, pkey)));
	return buf;
}

/* An inet socket: "tcp6 listen [::ffff:10.0.0.1]:80, IPv4 10.0.0.1 on a
 * dual-stack socket": what --ip-map and the presence check will use. */
static void inet_desc(json_t *f, char *buf, size_t len)
{
	json_t *o = json_object_get(f, "inet"), *v6only = json_object_get(json_object_get(o, "options"), "IPV6_V6ONLY");
	struct ip_addr a;
	char l[80], r[80], v4[64];
	size_t off;
	off = snprintf(buf, len, "%s%lld %s %s", str(o, "proto"), (long long)json_integer_value(json_object_get(o, "family")),
		       str(o, "mode"), endpoint(o, "local", "lport", l, sizeof(l)));
	if (json_object_get(o, "peer") && off < len)
		off += snprintf(buf + off, len - off, " -> %s%s", endpoint(o, "peer", "rport", r, sizeof(r)),
				json_is_true(json_object_get(o, "peer_in_tree")) ? " (in the tree)" : "");
	if (ip_parse(str(o, "local"), &a) == 0 && ip_is_v4mapped(&a) && off < len) {
		a = ip_unmap(&a);
		off += snprintf(buf + off, len - off, ", IPv4 %s on a dual-stack socket", ip_str(&a, v4, sizeof(v4)));
		if (v6only && off < len)
			snprintf(buf + off, len - off, " (IPV6_V6ONLY %lld)", (long long)json_integer_value(v6only));
	}
}

static void summary(json_t *core, json_t *files)
{
	json_t *threads = json_object_get(core, "threads"), *mm = json_object_get(core, "mm"), *o;
	size_t i;
	char h[32];

	printf("process %lld \"%s\": parent %lld, session %lld, group %lld\n",
	       (long long)json_integer_value(json_object_get(core, "pid")), str(core, "comm"),
	       (long long)json_integer_value(json_object_get(core, "ppid")),
	       (long long)json_integer_value(json_object_get(core, "sid")),
	       (long long)json_integer_value(json_object_get(core, "pgid")));
	if (json_is_true(json_object_get(core, "zombie"))) {
		printf("  zombie, exit status 0x%llx\n", (long long)json_integer_value(json_object_get(core, "exit_code")));
		return;
	}
	printf("  cwd %s, root %s, umask %03llo\n", str(core, "cwd"), str(core, "root"),
	       (long long)json_integer_value(json_object_get(core, "umask")));
	printf("threads (%zu):\n", json_array_size(threads));
	json_array_foreach(threads, i, o) {
		json_t *regs = json_object_get(o, "regs");
		printf("  tid %lld \"%s\": rip 0x%" PRIx64 " rsp 0x%" PRIx64 " sigmask 0x%" PRIx64 ", %zu pending\n",
		       (long long)json_integer_value(json_object_get(o, "tid")), str(o, "name"), hexval(regs, "rip"),
		       hexval(regs, "rsp"), hexval(o, "sigmask"), json_array_size(json_object_get(o, "pending")));
	}
	human(h, sizeof(h), hexval(mm, "npages") * PAGE_SIZE);
	printf("memory: %zu VMAs, %s of data; brk 0x%" PRIx64 "\n", json_array_size(json_object_get(mm, "vmas")), h,
	       hexval(mm, "brk"));
	if (json_integer_value(json_object_get(mm, "cow_pages")) || json_integer_value(json_object_get(mm, "inh_pages"))) {
		char c[32];
		human(h, sizeof(h), json_integer_value(json_object_get(mm, "cow_pages")) * PAGE_SIZE);
		human(c, sizeof(c), json_integer_value(json_object_get(mm, "inh_pages")) * PAGE_SIZE);
		printf("  shared copy-on-write: %s with its children (stored here), %s with its parent\n", h, c);
	}
	json_array_foreach(json_object_get(mm, "vmas"), i, o) {
		human(h, sizeof(h), hexval(o, "end") - hexval(o, "start"));
		printf("  %012" PRIx64 "-%012" PRIx64 " %s %7s %-12s %s\n", hexval(o, "start"), hexval(o, "end"),
		       str(o, "perms"), h, str(o, "kind"), str(o, "name"));
	}
	printf("fds (%zu):\n", json_array_size(json_object_get(core, "fds")));
	json_array_foreach(json_object_get(core, "fds"), i, o) {
		json_t *f = json_array_get(files, json_integer_value(json_object_get(o, "file")));
		char sock[300] = "";
		if (json_object_get(f, "inet"))
			inet_desc(f, sock, sizeof(sock));
		printf("  %3lld%s %-12s %s flags 0x%" PRIx64 " pos %lld\n",
		       (long long)json_integer_value(json_object_get(o, "fd")),
		       json_is_true(json_object_get(o, "cloexec")) ? "e" : " ", str(f, "kind"),
		       json_object_get(f, "path") ? str(f, "path") : sock, hexval(f, "flags"),
		       (long long)json_integer_value(json_object_get(f, "pos")));
	}
	printf("signals: %zu handlers, %zu process-wide pending\n", json_array_size(json_object_get(core, "sigactions")),
	       json_array_size(json_object_get(core, "shared_pending")));
	json_array_foreach(json_object_get(core, "sigactions"), i, o)
		printf("  %2lld handler 0x%" PRIx64 " flags 0x%" PRIx64 " mask 0x%" PRIx64 "\n",
		       (long long)json_integer_value(json_object_get(o, "signo")), hexval(o, "handler"),
		       hexval(o, "flags"), hexval(o, "mask"));
}

int cmd_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, 0, 'D' }, { "json", no_argument, 0, 'j' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	const char *dir = NULL;
	int json = 0, c, ret = 1;
	struct img im;
	json_t *all = NULL, *procs, *pid, *shared;
	size_t i;

	while ((c = getopt_long(argc, argv, "D:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'D': dir = optarg; break;
		case 'j': json = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!dir || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (img_open(&im, dir) < 0)
		goto out;
	if (!(shared = img_read_json(&im, "shared.json")))
		goto out;
	all = json_pack("{s:O,s:o,s:o}", "manifest", im.manifest, "processes", json_object(), "shared", shared);
	procs = json_object_get(all, "processes");
	if (!json)
		printf("image %s: format %s version %lld, kernel %s, %zu process(es)\n", dir, str(im.manifest, "format"),
		       (long long)json_integer_value(json_object_get(im.manifest, "version")),
		       str(json_object_get(im.manifest, "host"), "kernel"),
		       json_array_size(json_object_get(im.manifest, "pids")));
	json_array_foreach(json_object_get(im.manifest, "pids"), i, pid) {
		char name[64], key[32];
		json_t *core;
		snprintf(name, sizeof(name), "core-%lld.json", (long long)json_integer_value(pid));
		if (!(core = img_read_json(&im, name)))
			goto out;
		snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(pid));
		json_object_set_new(procs, key, core);
		if (!json)
			summary(core, json_object_get(shared, "files"));
	}
	if (!json && json_array_size(json_object_get(shared, "locks"))) {
		json_t *o;
		printf("file locks (%zu):\n", json_array_size(json_object_get(shared, "locks")));
		json_array_foreach(json_object_get(shared, "locks"), i, o) {
			json_t *f = json_array_get(json_object_get(shared, "files"), json_integer_value(json_object_get(o, "file")));
			long long start = json_integer_value(json_object_get(o, "start")),
				  len = json_integer_value(json_object_get(o, "len"));
			char range[64];
			if (!strcmp(str(o, "kind"), "flock"))
				snprintf(range, sizeof(range), "whole file");
			else if (len)
				snprintf(range, sizeof(range), "bytes %lld-%lld", start, start + len - 1);
			else
				snprintf(range, sizeof(range), "bytes %lld-end", start);
			printf("  %-5s %-9s %-16s pid %lld fd %lld %s\n", str(o, "kind"), str(o, "type"), range,
			       (long long)json_integer_value(json_object_get(o, "pid")),
			       (long long)json_integer_value(json_object_get(o, "fd")), str(f, "path"));
		}
	}
	if (json) {
		json_dumpf(all, stdout, JSON_INDENT(1) | JSON_SORT_KEYS);
		putchar('\n');
	}
	ret = 0;
out:
	if (ret)
		fprintf(stderr, "ferry show: %s\n", fail_msg() ? fail_msg() : "failed");
	json_decref(all);
	img_close(&im);
	return ret;
}
