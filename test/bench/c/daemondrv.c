/* SPDX-License-Identifier: Apache-2.0 */
/*
 * C daemon-mode baseline driver: long-lived children on blocking pipes;
 * one request line out, one reply line back, in the same thread (the
 * "c-blocking" driver of the baselines). With K children, K threads each
 * run a closed loop on their own child (one outstanding request each).
 *
 * Commands (one per line on stdin; one answer line on stdout):
 *   C <idx> <path>          register child program idx
 *   P <idx> <file>          load request line idx (ends with "\n")
 *   S <child> <k>           (re)start k daemon children of program child
 *   L <req> <n>             n sequential round trips on daemon 0
 *   T <req> <k> <n>         k threads, n round trips each on daemons 0..k-1
 *                           -> R <total> <wall> <cpu> <childcpu> <fails> <lat_ns>...
 *   Q                       stop the children (close stdin, waitpid)
 *   X                       exit
 */
#include "common.h"
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

static char *child_path[MAX_SLOTS];
static char *req_buf[MAX_SLOTS];
static size_t req_len[MAX_SLOTS];
static int devnull = -1;

struct daemon {
	pid_t pid;
	int in, out;
};
static struct daemon *ds;
static int nds;

static void stop_all(void)
{
	for (int i = 0; i < nds; i++) {
		close(ds[i].in);
		close(ds[i].out);
	}
	for (int i = 0; i < nds; i++) {
		int st;
		while (waitpid(ds[i].pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	free(ds);
	ds = NULL;
	nds = 0;
}

static int start(const char *path, struct daemon *d)
{
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return -1;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, devnull, 2);
	char *argv[] = {(char *)path, NULL};
	int rc = posix_spawn(&d->pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	if (rc != 0)
		return -1;
	d->in = in[1];
	d->out = out[0];
	return 0;
}

/* roundtrip sends one request and reads one reply line. */
static int roundtrip(struct daemon *d, const char *req, size_t n)
{
	if (write_all(d->in, req, n) < 0)
		return -1;
	char buf[256];
	size_t have = 0;
	for (;;) {
		ssize_t r = read(d->out, buf + have, sizeof buf - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		have += (size_t)r;
		if (memchr(buf, '\n', have))
			break;
		if (have == sizeof buf)
			return -1;
	}
	return is_allow(buf, have) ? 0 : -1;
}

struct job {
	struct daemon *d;
	const char *req;
	size_t n;
	int count;
	int64_t *lat;
	int fails;
};

static void *worker(void *arg)
{
	struct job *j = arg;
	for (int i = 0; i < j->count; i++) {
		int64_t t0 = now_ns();
		if (roundtrip(j->d, j->req, j->n) != 0)
			j->fails++;
		j->lat[i] = now_ns() - t0;
	}
	return NULL;
}

static void run(int req, int k, int n)
{
	if (req < 0 || req >= MAX_SLOTS || !req_buf[req] || k <= 0 || k > nds || n <= 0) {
		reply_fail("bad run command (have %d daemons)", nds);
		return;
	}
	int total = k * n;
	int64_t *lat = calloc((size_t)total, sizeof *lat);
	struct job *jobs = calloc((size_t)k, sizeof *jobs);
	pthread_t *th = calloc((size_t)k, sizeof *th);
	for (int i = 0; i < k; i++)
		jobs[i] = (struct job){&ds[i], req_buf[req], req_len[req], n, lat + (size_t)i * n, 0};
	int64_t c0 = cpu_ns(RUSAGE_SELF);
	int64_t t0 = now_ns();
	if (k == 1)
		worker(&jobs[0]);
	else {
		for (int i = 0; i < k; i++)
			pthread_create(&th[i], NULL, worker, &jobs[i]);
		for (int i = 0; i < k; i++)
			pthread_join(th[i], NULL);
	}
	int64_t wall = now_ns() - t0;
	int64_t c1 = cpu_ns(RUSAGE_SELF);
	int fails = 0;
	for (int i = 0; i < k; i++)
		fails += jobs[i].fails;
	reply_ok(total, wall, c1 - c0, 0, fails, lat);
	free(lat);
	free(jobs);
	free(th);
}

int main(void)
{
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, stdin) > 0) {
		line[strcspn(line, "\n")] = 0;
		char arg[4096];
		int a, b, c;
		if (sscanf(line, "C %d %4095s", &a, arg) == 2 && a >= 0 && a < MAX_SLOTS) {
			free(child_path[a]);
			child_path[a] = strdup(arg);
			printf("OK\n");
			fflush(stdout);
		} else if (sscanf(line, "P %d %4095s", &a, arg) == 2 && a >= 0 && a < MAX_SLOTS) {
			free(req_buf[a]);
			req_buf[a] = load_file(arg, &req_len[a]);
			if (!req_buf[a])
				reply_fail("cannot read %s: %s", arg, strerror(errno));
			else {
				printf("OK\n");
				fflush(stdout);
			}
		} else if (sscanf(line, "S %d %d", &a, &b) == 2) {
			stop_all();
			if (a < 0 || a >= MAX_SLOTS || !child_path[a] || b <= 0) {
				reply_fail("bad S command");
				continue;
			}
			ds = calloc((size_t)b, sizeof *ds);
			int ok = 1;
			for (int i = 0; i < b && ok; i++) {
				if (start(child_path[a], &ds[i]) != 0)
					ok = 0;
				else
					nds++;
			}
			if (!ok)
				reply_fail("start: %s", strerror(errno));
			else {
				printf("OK\n");
				fflush(stdout);
			}
		} else if (sscanf(line, "L %d %d", &a, &b) == 2) {
			run(a, 1, b);
		} else if (sscanf(line, "T %d %d %d", &a, &b, &c) == 3) {
			run(a, b, c);
		} else if (line[0] == 'Q') {
			stop_all();
			printf("OK\n");
			fflush(stdout);
		} else if (line[0] == 'X') {
			stop_all();
			return 0;
		} else {
			reply_fail("unknown command: %s", line);
		}
	}
	stop_all();
	return 0;
}
