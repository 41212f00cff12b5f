/*
 * Fuzz target: the --ip-map parser (a command-line option, and the list a
 * migration's pre-flight carries to serve) and what is done with a parsed
 * map: lookups, mapping addresses of both families, --ip-map auto's pick.
 *
 * The input is text: lines of OLD=NEW specs, then a line "--", then lines
 * of addresses to parse and map.
 */
#include "fuzz.h"
#include "ipmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipmap m = { .n = 0 };
	struct ip_addr addrs[16];
	int naddrs = 0, after = 0;
	char *text = xmalloc(size + 1), *line, *save = NULL, err[256], b[64];

	memcpy(text, data, size);
	text[size] = 0;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct ip_addr a, to;
		if (!strcmp(line, "--")) {
			after = 1;
			continue;
		}
		if (!after) {
			ipmap_add(&m, line, err, sizeof(err));
			continue;
		}
		if (ip_parse(line, &a) < 0)
			continue;
		ip_str(&a, b, sizeof(b));
		ipmap_find(&m, &a);
		to = a;
		if (ipmap_apply(&m, &to) && to.family != a.family)
			abort();	/* a mapping never changes a socket's family */
		ip_is_any(&a);
		ip_is_loopback(&a);
		if (naddrs)
			ipmap_auto_pick(&a, (unsigned char)line[0] % 129, addrs, naddrs, &to);
		if (naddrs < 16)
			addrs[naddrs++] = a;
		{
			struct sockaddr_storage ss;
			struct ip_addr back;
			int port;
			ip_to_sockaddr(&a, 80, &ss);
			ip_from_sockaddr(&ss, &back, &port);
			if (port != 80 || !ip_equal(&a, &back))
				abort();
		}
	}
	free(text);
	return 0;
}
