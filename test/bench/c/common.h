/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Functions shared by the C baseline drivers. Both drivers are coprocesses
 * of the Go benchmark program: they read one command per line on stdin,
 * run a batch, and answer one line on stdout, so the Go program can
 * interleave C batches with its own variants in the same run.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_SLOTS 16

static inline int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline int64_t tv_ns(struct timeval tv)
{
	return (int64_t)tv.tv_sec * 1000000000LL + (int64_t)tv.tv_usec * 1000LL;
}

/* cpu_ns returns user+system CPU of who (RUSAGE_SELF or RUSAGE_CHILDREN). */
static inline int64_t cpu_ns(int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime);
}

static inline int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* load_file reads a whole file into a malloc'd buffer. */
static inline char *load_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return NULL;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t off = 0;
	while (buf && off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	*len = off;
	return buf;
}

/* reply_fail answers a command with an error line. */
static inline void reply_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("E ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
}

/* reply_ok answers with the batch's figures and every latency in ns:
 * R <n> <wall_ns> <self_cpu_ns> <children_cpu_ns> <fails> <lat>... */
static inline void reply_ok(int n, int64_t wall, int64_t self_cpu, int64_t child_cpu, int fails, const int64_t *lat)
{
	printf("R %d %lld %lld %lld %d", n, (long long)wall, (long long)self_cpu, (long long)child_cpu, fails);
	for (int i = 0; i < n; i++)
		printf(" %lld", (long long)lat[i]);
	printf("\n");
	fflush(stdout);
}

/* is_allow reports whether the last non-empty line of buf is the allow
 * decision (a memcmp, as in the baselines: no JSON parser). */
static inline int is_allow(const char *buf, size_t n)
{
	static const char want[] = "{\"action\":\"allow\"}";
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	size_t start = n;
	while (start > 0 && buf[start - 1] != '\n')
		start--;
	return n - start == sizeof want - 1 && memcmp(buf + start, want, sizeof want - 1) == 0;
}

#endif
