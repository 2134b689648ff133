/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kill benchmark hook: builds a tree of N processes (default 100, itself
 * included) that all sleep, then tells its parent the tree is complete by
 * printing one line to stdout and keeps sleeping. The bench then lets the
 * fire's deadline pass and times how long the supervisor takes to make
 * the whole tree disappear.
 *
 *   forker [N]
 *
 * The tree is a chain of fan-outs (every 10th child forks the next ten),
 * so it is a tree, not a flat list of siblings of the hook.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int want = argc > 1 ? atoi(argv[1]) : 100;
	int made = 1; /* this process */
	int ready[2];
	if (pipe(ready) < 0)
		return 1;
	/* Each level: fork up to 9 sleepers and one child that continues. */
	while (made < want) {
		int k;
		for (k = 0; k < 9 && made < want; k++) {
			pid_t p = fork();
			if (p < 0)
				return 1;
			if (p == 0) {
				close(ready[0]);
				write(ready[1], "x", 1);
				close(ready[1]);
				for (;;)
					pause();
			}
			made++;
		}
		if (made >= want)
			break;
		pid_t p = fork();
		if (p < 0)
			return 1;
		if (p != 0) {
			/* this level is done; keep sleeping, as the others do */
			close(ready[0]);
			close(ready[1]);
			for (;;)
				pause();
		}
		made++;
		write(ready[1], "x", 1);
	}
	/* The last process waits for everyone else to have started. */
	close(ready[1]);
	int got = 0;
	char c[256];
	for (;;) {
		ssize_t n = read(ready[0], c, sizeof c);
		if (n <= 0)
			break;
		got += n;
		if (got >= want - 1)
			break;
	}
	static const char line[] = "{\"tree\":\"ready\"}\n";
	write(1, line, sizeof line - 1);
	for (;;)
		pause();
}
