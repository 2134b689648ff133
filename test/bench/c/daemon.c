/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Daemon-mode benchmark hook: answers every request line with one allow
 * decision, in order. It only looks for newlines, so a 1 MiB request costs
 * it a read loop and nothing else; the bench measures the supervisor's
 * path, not the hook's parsing.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

static const char ans[] = "{\"action\":\"allow\"}\n";

static int reply(void)
{
	ssize_t off = 0;
	while (off < (ssize_t)sizeof ans - 1) {
		ssize_t n = write(1, ans + off, sizeof ans - 1 - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		off += n;
	}
	return 0;
}

int main(void)
{
	static char buf[1 << 16];
	for (;;) {
		ssize_t n = read(0, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		char *p = buf, *end = buf + n;
		while ((p = memchr(p, '\n', end - p)) != NULL) {
			if (reply() < 0)
				return 1;
			p++;
		}
	}
}
