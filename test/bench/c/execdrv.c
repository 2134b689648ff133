/* SPDX-License-Identifier: Apache-2.0 */
/*
 * C exec-mode baseline driver (the lower bound for one exec fire):
 * posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK)) + two pipes, write the
 * envelope, close stdin, read stdout to EOF, waitpid, memcmp the answer.
 * The child's stderr is /dev/null; its environment is this driver's.
 *
 * Commands (one per line on stdin; one answer line on stdout):
 *   C <idx> <path>            register child program idx (argv = {path})
 *   P <idx> <file>            load envelope idx (the exact bytes to write)
 *   F <child> <env> <n> <conc> run n fires over conc threads
 *                             -> R <n> <wall> <cpu> <childcpu> <fails> <lat_ns>...
 *   X                         exit
 */
#include "common.h"
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

static char *child_path[MAX_SLOTS];
static char *env_buf[MAX_SLOTS];
static size_t env_len[MAX_SLOTS];
static int devnull = -1;

/* fire runs one exec round trip; 0 on an allow answer. */
static int fire(const char *path, const char *env, size_t envn)
{
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, devnull, 2);
	char *argv[] = {(char *)path, NULL};
	pid_t pid;
	int rc = posix_spawn(&pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	if (rc != 0) {
		close(in[1]);
		close(out[0]);
		return -1;
	}
	int werr = write_all(in[1], env, envn);
	close(in[1]);
	char buf[4096];
	size_t have = 0;
	for (;;) {
		if (have == sizeof buf)
			have = 0; /* keep only the tail; answers are short */
		ssize_t n = read(out[0], buf + have, sizeof buf - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(out[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (werr < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || !is_allow(buf, have))
		return -1;
	return 0;
}

struct job {
	const char *path;
	const char *env;
	size_t envn;
	int n;
	int64_t *lat;
	int fails;
};

static void *worker(void *arg)
{
	struct job *j = arg;
	for (int i = 0; i < j->n; i++) {
		int64_t t0 = now_ns();
		if (fire(j->path, j->env, j->envn) != 0)
			j->fails++;
		j->lat[i] = now_ns() - t0;
	}
	return NULL;
}

int main(void)
{
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, stdin) > 0) {
		line[strcspn(line, "\n")] = 0;
		char arg[4096];
		int a, b, n, conc;
		if (sscanf(line, "C %d %4095s", &a, arg) == 2 && a >= 0 && a < MAX_SLOTS) {
			free(child_path[a]);
			child_path[a] = strdup(arg);
			printf("OK\n");
			fflush(stdout);
		} else if (sscanf(line, "P %d %4095s", &a, arg) == 2 && a >= 0 && a < MAX_SLOTS) {
			free(env_buf[a]);
			env_buf[a] = load_file(arg, &env_len[a]);
			if (!env_buf[a])
				reply_fail("cannot read %s: %s", arg, strerror(errno));
			else {
				printf("OK\n");
				fflush(stdout);
			}
		} else if (sscanf(line, "F %d %d %d %d", &a, &b, &n, &conc) == 4) {
			if (a < 0 || a >= MAX_SLOTS || !child_path[a] || b < 0 || b >= MAX_SLOTS || !env_buf[b] || n <= 0 || conc <= 0) {
				reply_fail("bad F command");
				continue;
			}
			if (conc > n)
				conc = n;
			int64_t *lat = calloc((size_t)n, sizeof *lat);
			struct job *jobs = calloc((size_t)conc, sizeof *jobs);
			pthread_t *th = calloc((size_t)conc, sizeof *th);
			int off = 0;
			for (int i = 0; i < conc; i++) {
				int share = n / conc + (i < n % conc);
				jobs[i] = (struct job){child_path[a], env_buf[b], env_len[b], share, lat + off, 0};
				off += share;
			}
			int64_t c0 = cpu_ns(RUSAGE_SELF), k0 = cpu_ns(RUSAGE_CHILDREN);
			int64_t t0 = now_ns();
			if (conc == 1)
				worker(&jobs[0]);
			else {
				for (int i = 0; i < conc; i++)
					pthread_create(&th[i], NULL, worker, &jobs[i]);
				for (int i = 0; i < conc; i++)
					pthread_join(th[i], NULL);
			}
			int64_t wall = now_ns() - t0;
			int64_t c1 = cpu_ns(RUSAGE_SELF), k1 = cpu_ns(RUSAGE_CHILDREN);
			int fails = 0;
			for (int i = 0; i < conc; i++)
				fails += jobs[i].fails;
			reply_ok(n, wall, c1 - c0, k1 - k0, fails, lat);
			free(lat);
			free(jobs);
			free(th);
		} else if (line[0] == 'X') {
			return 0;
		} else {
			reply_fail("unknown command: %s", line);
		}
	}
	return 0;
}
