/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The keeper and the setup operations of the launcher (see the protocol
 * in launcher.c, which includes this file: the launcher is built as one
 * translation unit, with no libc).
 */

/* ---- keeper: PID 1 of the supervisor's PID namespace ----
 *
 * argv[1] == "K". fd 3 is the read end of a pipe whose only write end
 * the supervisor holds. The keeper reaps the orphans that the kernel
 * hands to a namespace's init and exits when that pipe reports EOF (the
 * supervisor is gone, however it died) or when its parent-death signal
 * comes. The kernel then SIGKILLs every process of the namespace: no hook
 * outlives the supervisor, and no userspace step is needed for it. */

#define SIGKILL 9
#define SIGCHLD 17
#define PR_SET_PDEATHSIG 1
#define P_ALL 0
#define WNOHANG 1
#define WEXITED 4
#define POLLIN 1

struct pollfd {
	int fd;
	short events, revents;
};

static void reap_all(void)
{
	int info[32];
	long r;

	for (;;) {
		info[4] = 0; /* si_pid */
		r = sys6(SYS_waitid, P_ALL, 0, (long)info, WNOHANG | WEXITED, 0, 0);
		if (r < 0 || info[4] == 0)
			return;
	}
}

static __attribute__((noreturn)) void keeper(void)
{
	u64 mask = 1UL << (SIGCHLD - 1);
	struct pollfd pfd[2];
	char scratch[128];
	long sfd, r;

	sys6(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0, 0);
	sys3(SYS_close_range, FD_CONTROL + 1, ~0U, 0);
	if (sys6(SYS_rt_sigprocmask, 0 /* SIG_BLOCK */, (long)&mask, 0, 8, 0, 0) < 0)
		die(125);
	sfd = sys6(SYS_signalfd4, -1, (long)&mask, 8, 02000000 /* SFD_CLOEXEC */, 0, 0);
	if (sfd < 0)
		die(125);
	pfd[0].fd = FD_CONTROL;
	pfd[0].events = POLLIN;
	pfd[1].fd = (int)sfd;
	pfd[1].events = POLLIN;
	for (;;) {
		reap_all();
		pfd[0].revents = pfd[1].revents = 0;
#if defined(SYS_poll)
		r = sys3(SYS_poll, (long)pfd, 2, -1);
#else
		r = sys6(SYS_ppoll, (long)pfd, 2, 0 /* no timeout */, 0 /* no mask */, 0, 0);
#endif
		if (r == -EINTR)
			continue;
		if (r < 0)
			die(125);
		if (pfd[0].revents) {
			r = sys3(SYS_read, FD_CONTROL, (long)scratch, sizeof scratch);
			if (r == 0 || (r < 0 && r != -EINTR))
				die(0);
		}
		if (pfd[1].revents)
			sys3(SYS_read, sfd, (long)scratch, sizeof scratch);
	}
}

/* ---- setup operations (see the protocol above) ---- */

#define MS_RDONLY 1
#define MS_NOSUID 2
#define MS_NODEV 4
#define MS_NOEXEC 8
#define MS_BIND 4096
#define MS_REC 16384
#define AT_FDCWD -100
#define AT_RECURSIVE 0x8000
#define MOUNT_ATTR_RDONLY 1
#define PR_SET_KEEPCAPS 8
#define PR_CAPBSET_DROP 24
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#define CAP_VERSION_3 0x20080522
#define MAX_GROUPS 64

struct mount_attr {
	u64 attr_set, attr_clr, propagation, userns_fd;
};

struct cap_header {
	u32 version;
	int pid;
};

struct cap_data {
	u32 effective, permitted, inheritable;
};

static void check(long r)
{
	if (r < 0)
		fail(STAGE_SETUP, r);
}

/* number parses a decimal at *p and advances past it. */
static u64 number(char **p)
{
	u64 n = 0;

	if (**p < '0' || **p > '9')
		fail(STAGE_SETUP, -EINVAL);
	while (**p >= '0' && **p <= '9')
		n = n * 10 + (u64)(*(*p)++ - '0');
	return n;
}

static void bind_self(char *path, int readonly)
{
	struct mount_attr a = {0, 0, 0, 0};

	check(sys6(SYS_mount, (long)path, (long)path, 0, MS_BIND | MS_REC, 0, 0));
	if (readonly)
		a.attr_set = MOUNT_ATTR_RDONLY;
	else
		a.attr_clr = MOUNT_ATTR_RDONLY;
	check(sys6(SYS_mount_setattr, AT_FDCWD, (long)path, AT_RECURSIVE, (long)&a, sizeof a, 0));
}

static void setattr(char *path, int recursive, int readonly)
{
	struct mount_attr a = {0, 0, 0, 0};

	if (readonly)
		a.attr_set = MOUNT_ATTR_RDONLY;
	else
		a.attr_clr = MOUNT_ATTR_RDONLY;
	check(sys6(SYS_mount_setattr, AT_FDCWD, (long)path, recursive ? AT_RECURSIVE : 0, (long)&a, sizeof a, 0));
}

static void loopback_up(void)
{
	struct {
		char name[16];
		short flags;
		char pad[22];
	} ifr;
	long fd, r;
	int i;

	for (i = 0; i < (int)sizeof ifr.pad; i++)
		ifr.pad[i] = 0;
	for (i = 0; i < 16; i++)
		ifr.name[i] = 0;
	ifr.name[0] = 'l';
	ifr.name[1] = 'o';
	ifr.flags = 0;
	fd = sys3(SYS_socket, 2 /* AF_INET */, 2 | 02000000 /* SOCK_DGRAM|SOCK_CLOEXEC */, 0);
	check(fd);
	r = sys3(SYS_ioctl, fd, 0x8913 /* SIOCGIFFLAGS */, (long)&ifr);
	if (r >= 0) {
		ifr.flags |= 1; /* IFF_UP */
		r = sys3(SYS_ioctl, fd, 0x8914 /* SIOCSIFFLAGS */, (long)&ifr);
	}
	sys3(SYS_close, fd, 0, 0);
	check(r);
}

static u64 hex(char *p)
{
	u64 n = 0;
	int d;

	if (!*p)
		fail(STAGE_SETUP, -EINVAL);
	for (; *p; p++) {
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else
			fail(STAGE_SETUP, -EINVAL);
		n = n << 4 | (u64)d;
	}
	return n;
}

/* become applies the credentials and capabilities, after every mount:
 * the bounding set first (that needs CAP_SETPCAP, which is about to go),
 * then the ids, then the permitted, effective, inheritable and ambient
 * sets. Without CAP_SETPCAP (an unprivileged supervisor) the bounding set
 * stays; no_new_privs keeps a hook from gaining anything through it. */
static void become(char *user, char *caps)
{
	u32 groups[MAX_GROUPS];
	u64 uid = 0, gid = 0, keep = 0, have;
	long ngroups = 0, r;
	struct cap_header h = {CAP_VERSION_3, 0};
	struct cap_data d[2];
	int c;

	if (user) {
		uid = number(&user);
		if (*user++ != ':')
			fail(STAGE_SETUP, -EINVAL);
		gid = number(&user);
		if (*user == ':') {
			user++;
			while (*user) {
				if (ngroups == MAX_GROUPS)
					fail(STAGE_SETUP, -EINVAL);
				groups[ngroups++] = (u32)number(&user);
				if (*user == ',')
					user++;
				else if (*user)
					fail(STAGE_SETUP, -EINVAL);
			}
		} else if (*user) {
			fail(STAGE_SETUP, -EINVAL);
		}
	}
	if (caps) {
		keep = hex(caps);
		for (c = 0; c < 64; c++) {
			if (keep & (1UL << c))
				continue;
			r = sys6(SYS_prctl, PR_CAPBSET_DROP, c, 0, 0, 0, 0);
			if (r == -EINVAL)
				break; /* past the kernel's last capability */
			if (r == -EPERM)
				break; /* no CAP_SETPCAP: nothing is privileged here */
			check(r);
		}
		if (keep && user && uid != 0)
			check(sys6(SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0, 0));
	}
	if (user) {
		check(sys3(SYS_setgroups, ngroups, (long)groups, 0));
		check(sys3(SYS_setresgid, (long)gid, (long)gid, (long)gid));
		check(sys3(SYS_setresuid, (long)uid, (long)uid, (long)uid));
	}
	if (!caps)
		return;
	check(sys3(SYS_capget, (long)&h, (long)d, 0));
	have = (u64)d[0].permitted | (u64)d[1].permitted << 32;
	keep &= have;
	d[0].effective = d[0].permitted = d[0].inheritable = (u32)keep;
	d[1].effective = d[1].permitted = d[1].inheritable = (u32)(keep >> 32);
	h.version = CAP_VERSION_3;
	h.pid = 0;
	check(sys3(SYS_capset, (long)&h, (long)d, 0));
	check(sys6(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0));
	for (c = 0; c < 64; c++) {
		if (keep & (1UL << c))
			check(sys6(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0, 0));
	}
}

/* The seccomp filter to install before execve: decoded at preparation,
 * installed on the fire's path by one system call. BPF_MAXINSNS is 4096. */
static unsigned char filter[4096 * 8];
static long filter_len; /* instructions */

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	fail(STAGE_SETUP, -EINVAL);
}

static void load_filter(char *p)
{
	long n = 0;

	while (p[0] && p[1]) {
		if (n == (long)sizeof filter)
			fail(STAGE_SETUP, -EINVAL);
		filter[n++] = (unsigned char)(nibble(p[0]) << 4 | nibble(p[1]));
		p += 2;
	}
	if (*p || n == 0 || n % 8)
		fail(STAGE_SETUP, -EINVAL);
	filter_len = n / 8;
}

static void setup(long argc, char **argv)
{
	char *user = 0, *caps = 0, *a;
	long i;

	for (i = 2; i < argc; i++) {
		a = argv[i];
		switch (a[0]) {
		case 'r':
			setattr(a + 1, 1, 1);
			break;
		case 'W':
			setattr(a + 1, 0, 0);
			break;
		case 'b':
			bind_self(a + 1, 1);
			break;
		case 'w':
			bind_self(a + 1, 0);
			break;
		case 'i':
			check(sys6(SYS_mount, (long)"tmpfs", (long)(a + 1), (long)"tmpfs",
				   MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, (long)"mode=000", 0));
			break;
		case 't':
			check(sys6(SYS_mount, (long)"tmpfs", (long)(a + 1), (long)"tmpfs",
				   MS_NOSUID | MS_NODEV, (long)"mode=1777", 0));
			break;
		case 'h':
			check(sys6(SYS_mount, (long)"tmpfs", (long)(a + 1), (long)"tmpfs",
				   MS_NOSUID | MS_NODEV, (long)"mode=0755", 0));
			break;
		case 'L':
			loopback_up();
			break;
		case 'P':
			check(sys6(SYS_mount, (long)"proc", (long)"/proc", (long)"proc",
				   MS_NOSUID | MS_NODEV | MS_NOEXEC, 0, 0));
			break;
		case 'p': {
			/* A detached procfs the supervisor made (fsmount), of its
			 * own PID namespace, with hidepid=invisible: attached
			 * over /proc it shows host pids but no process the hook
			 * may not ptrace. */
			char *p = a + 1;
			long fd = (long)number(&p);

			if (*p)
				fail(STAGE_SETUP, -EINVAL);
			check(sys6(429 /* SYS_move_mount */, fd, (long)"", -100 /* AT_FDCWD */,
				   (long)"/proc", 4 /* MOVE_MOUNT_F_EMPTY_PATH */, 0));
			sys3(SYS_close, fd, 0, 0);
			break;
		}
		case 'u':
			user = a + 1;
			break;
		case 'c':
			caps = a + 1;
			break;
		case 's':
			load_filter(a + 1);
			break;
		case 'l': {
			char *p = a + 1;
			long fd = (long)number(&p);

			if (*p)
				fail(STAGE_SETUP, -EINVAL);
			check(sys3(446 /* SYS_landlock_restrict_self */, fd, 0, 0));
			sys3(SYS_close, fd, 0, 0);
			break;
		}
		default:
			fail(STAGE_SETUP, -EINVAL);
		}
	}
	if (user || caps)
		become(user, caps);
}

