/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Row 5's floor: a single-threaded C relay, the least any hook service
 * built on sockets and pipes can do. It accepts on a unix socket; for each
 * request line of a connection it either writes the line to its one daemon
 * child and reads one reply line, or (a line naming the exec event)
 * posix_spawns the exec child, writes the line, closes its stdin, reads
 * its stdout to EOF and reaps it; then it writes a fixed allow reply
 * carrying the request's id. No JSON: the id is the bytes between
 * {"id": and the first comma, as the bench's client writes it.
 *
 *   c-relay SOCKET DAEMON_CHILD EXEC_CHILD EXEC_MARKER
 *
 * It prints "ready" on stdout once it listens and exits at EOF on stdin.
 * The children get the environment of the relay.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXCONN 128
#define BUFSZ (1 << 20)

extern char **environ;

struct conn {
	int fd;
	char *buf;
	size_t len;
};

static int din = -1, dout = -1; /* the daemon child's stdin and stdout */
static char dbuf[1 << 16];
static size_t dlen;

static int write_all(int fd, const char *p, size_t n)
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

/* daemon_roundtrip writes line (newline included) and reads one line. */
static int daemon_roundtrip(const char *line, size_t n)
{
	if (write_all(din, line, n) < 0)
		return -1;
	for (;;) {
		char *nl = memchr(dbuf, '\n', dlen);
		if (nl) {
			size_t used = (size_t)(nl - dbuf) + 1;
			memmove(dbuf, dbuf + used, dlen - used);
			dlen -= used;
			return 0;
		}
		ssize_t r = read(dout, dbuf + dlen, sizeof dbuf - dlen);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		dlen += (size_t)r;
	}
}

static int exec_fire(const char *path, const char *line, size_t n)
{
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return -1;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
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
	int ok = write_all(in[1], line, n);
	close(in[1]);
	char buf[4096];
	for (;;) {
		ssize_t r = read(out[0], buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
	}
	close(out[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return ok;
}

static int start_daemon(const char *path)
{
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return -1;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	char *argv[] = {(char *)path, NULL};
	pid_t pid;
	int rc = posix_spawn(&pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	if (rc != 0)
		return -1;
	din = in[1];
	dout = out[0];
	return 0;
}

/* reply writes {"id":<id>,"decision":"allow"} for the request line. */
static int reply(int fd, const char *line, size_t n)
{
	static const char pre[] = "{\"id\":";
	static const char post[] = ",\"decision\":\"allow\"}\n";
	char out[256];
	const char *id = line + sizeof pre - 1;
	const char *comma = memchr(id, ',', n - (sizeof pre - 1));
	size_t idlen = comma ? (size_t)(comma - id) : 0;
	if (n < sizeof pre || memcmp(line, pre, sizeof pre - 1) != 0 || idlen > 64)
		idlen = 0;
	memcpy(out, pre, sizeof pre - 1);
	memcpy(out + sizeof pre - 1, id, idlen);
	memcpy(out + sizeof pre - 1 + idlen, post, sizeof post - 1);
	return write_all(fd, out, sizeof pre - 1 + idlen + sizeof post - 1);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: c-relay SOCKET DAEMON_CHILD EXEC_CHILD EXEC_MARKER\n");
		return 2;
	}
	const char *marker = argv[4];
	if (start_daemon(argv[2]) < 0) {
		perror("c-relay: daemon child");
		return 1;
	}
	int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strncpy(sa.sun_path, argv[1], sizeof sa.sun_path - 1);
	unlink(argv[1]);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 128) < 0) {
		perror("c-relay: listen");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);

	struct conn conns[MAXCONN];
	struct pollfd pfd[MAXCONN + 2];
	int nconn = 0;
	for (;;) {
		pfd[0] = (struct pollfd){.fd = 0, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = ls, .events = POLLIN};
		for (int i = 0; i < nconn; i++)
			pfd[i + 2] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
		if (poll(pfd, (nfds_t)nconn + 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (pfd[0].revents) {
			char b[64];
			if (read(0, b, sizeof b) <= 0)
				break;
		}
		if ((pfd[1].revents & POLLIN) && nconn < MAXCONN) {
			int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0) {
				conns[nconn] = (struct conn){.fd = fd, .buf = malloc(BUFSZ)};
				nconn++;
			}
		}
		for (int i = nconn - 1; i >= 0; i--) {
			if (!pfd[i + 2].revents)
				continue;
			struct conn *c = &conns[i];
			ssize_t r = read(c->fd, c->buf + c->len, BUFSZ - c->len);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0 || (size_t)r == BUFSZ - c->len) { /* EOF, error or a line too long */
				close(c->fd);
				free(c->buf);
				conns[i] = conns[--nconn];
				continue;
			}
			c->len += (size_t)r;
			char *start = c->buf, *nl;
			while ((nl = memchr(start, '\n', c->len - (size_t)(start - c->buf))) != NULL) {
				size_t n = (size_t)(nl - start) + 1;
				int err = memmem(start, n, marker, strlen(marker)) ? exec_fire(argv[3], start, n)
										    : daemon_roundtrip(start, n);
				if (err < 0 || reply(c->fd, start, n) < 0) {
					fprintf(stderr, "c-relay: fire failed\n");
					return 1;
				}
				start = nl + 1;
			}
			c->len -= (size_t)(start - c->buf);
			memmove(c->buf, start, c->len);
		}
	}
	return 0;
}
