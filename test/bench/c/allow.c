/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Exec-mode benchmark hook: reads stdin to EOF, then prints one allow
 * decision. Built static (gcc -static -O2) so the spawn cost is the
 * kernel's exec + exit and nothing of a dynamic loader.
 */
#include <errno.h>
#include <unistd.h>

int main(void)
{
	static char buf[65536];
	for (;;) {
		ssize_t n = read(0, buf, sizeof buf);
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	static const char ans[] = "{\"action\":\"allow\"}\n";
	ssize_t off = 0;
	while (off < (ssize_t)sizeof ans - 1) {
		ssize_t n = write(1, ans + off, sizeof ans - 1 - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		off += n;
	}
	return 0;
}
