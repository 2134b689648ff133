/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hooksupd launcher: a pre-started, pre-placed helper parked until a fire
 * tells it what to exec.
 *
 * Freestanding x86-64 or arm64 Linux: no libc, raw syscalls, one thread, a few KiB
 * resident. It must not start a language runtime: the hook's execve runs on
 * the fire's hot path and has to tear down whatever the launcher built (a
 * Go-runtime launcher made every fire 1.37x slower; see the project's
 * launcher research).
 *
 * Protocol (mirrored in ../launcher.go):
 *   argv[1] the number N of placement fds (absent: 0)
 *   fd 0-2  the hook's stdio, already in place
 *   fd 3    control pipe, read end: one exec request; EOF means "exit 0"
 *   fd 4    status pipe, write end: 'R' once placed and parked; after a
 *           request either EOF (execve succeeded, the fd was close-on-exec)
 *           or an 8-byte error {u32 stage, u32 errno} followed by _exit(127)
 *   fd 5..  N cgroup.procs files (O_WRONLY) of the hook's v1 groups: the
 *           launcher writes "0" (itself) into each, then closes it, before
 *           it reports ready. Self-placement keeps the migration, and the
 *           RCU grace period it may wait for, out of the supervisor, and
 *           the launcher's own start-up pages out of the hook's memcg.
 *   argv[2..] setup operations, applied in order after placement and
 *           before 'R' (so a parked launcher already is the hook's
 *           sandbox; the fire only execs). Each is one letter and an
 *           argument:
 *             r<path>  make the mount at <path> and all below it read-only
 *             W<path>  make the mount at <path> (only) writable again
 *             b<path>  bind <path> onto itself (recursive), read-only
 *             w<path>  bind <path> onto itself (recursive), writable
 *             i<path>  cover the directory <path> with an empty,
 *                      read-only, mode 000 tmpfs (inaccessible)
 *             t<path>  mount an empty tmpfs (mode 1777) on <path>
 *             h<path>  mount an empty tmpfs (mode 0755) on <path>
 *             L        bring the loopback interface up (new netns)
 *             P        mount a new procfs on /proc (new PID namespace)
 *             p<fd>    attach the detached procfs mount at <fd> on /proc
 *                      (move_mount), then close it
 *             u<uid>:<gid>[:<g1>,<g2>...]  become that user (setgroups,
 *                      setresgid, setresuid)
 *             l<fd>    enforce the Landlock ruleset at <fd>, then close it
 *             s<hex>   a seccomp filter (struct sock_filter array) to
 *                      install right before the hook's execve
 *             c<hex>   the capabilities to keep (bitmask); every other
 *                      one leaves the bounding, permitted, effective,
 *                      inheritable and ambient sets. Applied last.
 *           A failed operation reports the "setup" stage with its errno.
 *   argv[1] == "K": keeper mode instead (see keeper below).
 *   Request: 32-byte header {u32 magic, u32 total, u32 argc, u32 envc,
 *           u32 flags, u32 0, u64 nofile}, then NUL-terminated strings:
 *           path, dir, argv[argc], env[envc]; total counts everything.
 * The launcher is already in the hook's groups (cgroups) and process group,
 * with the hook's credentials and a parent-death signal, so the hook runs
 * no instruction outside its limits.
 */

#if defined(__x86_64__)
#define SYS_read 0
#define SYS_write 1
#define SYS_close 3
#define SYS_mmap 9
#define SYS_execve 59
#define SYS_fcntl 72
#define SYS_chdir 80
#define SYS_exit_group 231
#define SYS_prlimit64 302
#define SYS_close_range 436
#define SYS_poll 7
#define SYS_rt_sigprocmask 14
#define SYS_ioctl 16
#define SYS_socket 41
#define SYS_setresuid 117
#define SYS_setresgid 119
#define SYS_capset 126
#define SYS_prctl 157
#define SYS_mount 165
#define SYS_setgroups 116
#define SYS_waitid 247
#define SYS_signalfd4 289
#define SYS_mount_setattr 442
#define SYS_seccomp 317
#define SYS_capget 125

#elif defined(__aarch64__)
/* The generic table (asm-generic/unistd.h): no poll, ppoll instead. */
#define SYS_read 63
#define SYS_write 64
#define SYS_close 57
#define SYS_mmap 222
#define SYS_execve 221
#define SYS_fcntl 25
#define SYS_chdir 49
#define SYS_exit_group 94
#define SYS_prlimit64 261
#define SYS_close_range 436
#define SYS_ppoll 73
#define SYS_rt_sigprocmask 135
#define SYS_ioctl 29
#define SYS_socket 198
#define SYS_setresuid 147
#define SYS_setresgid 149
#define SYS_capset 91
#define SYS_prctl 167
#define SYS_mount 40
#define SYS_setgroups 159
#define SYS_waitid 95
#define SYS_signalfd4 74
#define SYS_mount_setattr 442
#define SYS_seccomp 277
#define SYS_capget 90
#else
#error "the launcher supports x86-64 and arm64"
#endif

#define EINTR 4
#define ENOMEM 12
#define ENOSYS 38
#define EPROTO 71
#define EINVAL 22
#define EPERM 1
#define ECHILD 10

#define F_SETFD 2
#define FD_CLOEXEC 1
#define RLIMIT_CORE 4
#define RLIMIT_NOFILE 7
#define PROT_RW 3
#define MAP_PRIVATE_ANON 0x22

#define FD_CONTROL 3
#define FD_STATUS 4

#define MAGIC 0x314c4b48u /* "HKL1" little-endian */
#define HDR 32
#define MAX_REQUEST (64u << 20)
#define FLAG_NOFILE 1u

#define FD_PLACE 5
#define MAX_PLACE 16

enum { STAGE_REQUEST = 1, STAGE_RLIMIT = 2, STAGE_CHDIR = 3, STAGE_EXEC = 4, STAGE_CLOSE = 5, STAGE_PLACE = 6, STAGE_SETUP = 7 };

typedef unsigned long size_t;
typedef unsigned int u32;
typedef unsigned long u64;

#if defined(__x86_64__)
static long sys3(long n, long a, long b, long c)
{
	long r;
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(n), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return r;
}

static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	long r;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return r;
}
#else
static long sys3(long n, long a, long b, long c)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	__asm__ volatile("svc #0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2)
			 : "memory");
	return x0;
}

static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc #0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory");
	return x0;
}
#endif

static __attribute__((noreturn)) void die(int code)
{
	for (;;)
		sys3(SYS_exit_group, code, 0, 0);
}

/* fail reports {stage, errno} on the status pipe and exits 127, the
 * shell's "command could not be executed". */
static __attribute__((noreturn)) void fail(u32 stage, long ret)
{
	u32 msg[2];
	msg[0] = stage;
	msg[1] = (u32)-ret;
	sys3(SYS_write, FD_STATUS, (long)msg, sizeof msg);
	die(127);
}

/* The first request is read here; page faults happen only on what is
 * touched, so a small request costs one page. */
static char buf[64 << 10] __attribute__((aligned(16)));

struct header {
	u32 magic, total, argc, envc, flags, reserved;
	u64 nofile;
};

struct rlimit64 {
	u64 cur, max;
};

/* next returns the byte after the NUL that ends the string at p, or 0
 * when the string runs past end. */
static char *next(char *p, char *end)
{
	while (p < end) {
		if (*p++ == 0)
			return p;
	}
	return 0;
}

static long read_some(char *p, size_t n)
{
	long r;
	do
		r = sys3(SYS_read, FD_CONTROL, (long)p, (long)n);
	while (r == -EINTR);
	return r;
}

/* place moves the launcher into its v1 groups (see the protocol). */
static void place(long argc, char **argv)
{
	long n = 0, r;
	char *p, zero = '0';
	int i;

	if (argc < 2)
		return;
	for (p = argv[1]; *p >= '0' && *p <= '9'; p++)
		n = n * 10 + (*p - '0');
	if (*p || n > MAX_PLACE)
		fail(STAGE_PLACE, -EPROTO);
	for (i = 0; i < n; i++) {
		do
			r = sys3(SYS_write, FD_PLACE + i, (long)&zero, 1);
		while (r == -EINTR);
		if (r < 0)
			fail(STAGE_PLACE, r);
		sys3(SYS_close, FD_PLACE + i, 0, 0);
	}
}


#include "sandbox.h"

__attribute__((noreturn, used)) void launcher_main(long *sp)
{
	char ready = 'R';
	char *b = buf;
	size_t cap = sizeof buf, have = 0, total, need;
	struct header *h;
	char **argv, **envp, *p, *end, *path, *dir;
	struct rlimit64 rl;
	long r;
	u32 i;

	if (sp[0] >= 2 && ((char **)(sp + 1))[1][0] == 'K' && ((char **)(sp + 1))[1][1] == 0)
		keeper();
	place(sp[0], (char **)(sp + 1));
	setup(sp[0], (char **)(sp + 1));
	if (sys3(SYS_write, FD_STATUS, (long)&ready, 1) != 1)
		die(126);

	/* Park: block until the supervisor sends a request or goes away. */
	while (have < HDR) {
		r = read_some(b + have, cap - have);
		if (r == 0 && have == 0)
			die(0); /* EOF: not needed any more */
		if (r <= 0)
			fail(STAGE_REQUEST, r ? r : -EPROTO);
		have += (size_t)r;
	}
	h = (struct header *)b;
	total = h->total;
	if (h->magic != MAGIC || total < HDR || total > MAX_REQUEST || h->argc == 0 ||
	    h->argc > MAX_REQUEST / 2 || h->envc > MAX_REQUEST / 2 || have > total)
		fail(STAGE_REQUEST, -EPROTO);
	need = ((total + 15) & ~(size_t)15) + ((size_t)h->argc + h->envc + 2) * sizeof(char *);
	if (need > cap) {
		char *nb = (char *)sys6(SYS_mmap, 0, (long)need, PROT_RW, MAP_PRIVATE_ANON, -1, 0);
		if ((unsigned long)nb > -4096UL)
			fail(STAGE_REQUEST, -ENOMEM);
		for (i = 0; i < have; i++)
			nb[i] = b[i];
		b = nb;
		h = (struct header *)b;
	}
	while (have < total) {
		r = read_some(b + have, total - have);
		if (r <= 0)
			fail(STAGE_REQUEST, r ? r : -EPROTO);
		have += (size_t)r;
	}

	p = b + HDR;
	end = b + total;
	argv = (char **)(b + ((total + 15) & ~(size_t)15));
	envp = argv + h->argc + 1;
	path = p;
	if (!(p = next(p, end)))
		fail(STAGE_REQUEST, -EPROTO);
	dir = p;
	if (!(p = next(p, end)))
		fail(STAGE_REQUEST, -EPROTO);
	for (i = 0; i < h->argc; i++) {
		argv[i] = p;
		if (!(p = next(p, end)))
			fail(STAGE_REQUEST, -EPROTO);
	}
	argv[i] = 0;
	for (i = 0; i < h->envc; i++) {
		envp[i] = p;
		if (!(p = next(p, end)))
			fail(STAGE_REQUEST, -EPROTO);
	}
	envp[i] = 0;
	if (p != end)
		fail(STAGE_REQUEST, -EPROTO);

	/* No core dumps from hooks: they would write the payload to disk. */
	rl.cur = rl.max = 0;
	if ((r = sys6(SYS_prlimit64, 0, RLIMIT_CORE, (long)&rl, 0, 0, 0)) < 0)
		fail(STAGE_RLIMIT, r);
	if (h->flags & FLAG_NOFILE) {
		rl.cur = rl.max = h->nofile;
		if ((r = sys6(SYS_prlimit64, 0, RLIMIT_NOFILE, (long)&rl, 0, 0, 0)) < 0)
			fail(STAGE_RLIMIT, r);
	}
	if (dir[0] && (r = sys3(SYS_chdir, (long)dir, 0, 0)) < 0)
		fail(STAGE_CHDIR, r);

	/* Only 0, 1 and 2 reach the hook: drop the control fd and anything
	 * inherited by accident; keep the status fd until execve succeeds. */
	sys3(SYS_close, FD_CONTROL, 0, 0);
	if ((r = sys3(SYS_fcntl, FD_STATUS, F_SETFD, FD_CLOEXEC)) < 0)
		fail(STAGE_CLOSE, r);
	r = sys3(SYS_close_range, FD_STATUS + 1, ~0U, 0);
	if (r == -ENOSYS) { /* before Linux 5.9 */
		for (i = FD_STATUS + 1; i < 4096; i++)
			sys3(SYS_close, i, 0, 0);
	} else if (r < 0) {
		fail(STAGE_CLOSE, r);
	}

	if (filter_len) {
		struct {
			unsigned short len;
			unsigned short pad[3];
			void *filter;
		} prog = {(unsigned short)filter_len, {0, 0, 0}, filter};

		if ((r = sys3(SYS_seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, 0, (long)&prog)) < 0)
			fail(STAGE_SETUP, r);
	}
	r = sys3(SYS_execve, (long)path, (long)argv, (long)envp);
	fail(STAGE_EXEC, r);
}

/* Entry: hand the initial stack (argc, argv...) to launcher_main and align
 * the stack as the ABI wants at a call. */
#if defined(__x86_64__)
__asm__(".text\n"
	".global _start\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call launcher_main\n"
	"	hlt\n");
#else
__asm__(".text\n"
	".global _start\n"
	"_start:\n"
	"	mov x29, #0\n"
	"	mov x30, #0\n"
	"	mov x0, sp\n"
	"	and sp, x0, #-16\n"
	"	bl launcher_main\n"
	"	brk #0\n");
#endif
