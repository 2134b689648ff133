// SPDX-License-Identifier: Apache-2.0

//go:build linux

package supervisor

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
)

// syscallGroups are systemd's system call groups (systemd.exec(5),
// SystemCallFilter=), as of systemd 255. A name that this architecture
// does not have is skipped; "@x" inside a group includes group x.
var syscallGroups = map[string]string{
	"@default": "arch_prctl brk cacheflush clock_getres clock_getres_time64 clock_gettime clock_gettime64 " +
		"clock_nanosleep clock_nanosleep_time64 execve exit exit_group futex futex_time64 futex_waitv " +
		"get_robust_list get_thread_area getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups " +
		"getgroups32 getpgid getpgrp getpid getppid getrandom getresgid getresgid32 getresuid getresuid32 " +
		"getrlimit getsid gettid gettimeofday getuid getuid32 membarrier mmap mmap2 mprotect munmap nanosleep " +
		"pause prlimit64 restart_syscall rseq rt_sigreturn sched_getaffinity sched_yield set_robust_list " +
		"set_thread_area set_tid_address set_tls sigreturn time ugetrlimit",
	"@aio": "io_cancel io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup io_submit " +
		"io_uring_enter io_uring_register io_uring_setup",
	"@basic-io": "_llseek close close_range dup dup2 dup3 lseek pread64 preadv preadv2 pwrite64 pwritev " +
		"pwritev2 read readv write writev",
	"@chown":         "chown chown32 fchown fchown32 fchownat lchown lchown32",
	"@clock":         "adjtimex clock_adjtime clock_adjtime64 clock_settime clock_settime64 settimeofday",
	"@cpu-emulation": "modify_ldt subpage_prot switch_endian vm86 vm86old",
	"@debug":         "lookup_dcookie perf_event_open pidfd_getfd ptrace rtas s390_runtime_instr sys_debug_setcontext",
	"@file-system": "access chdir chmod close creat faccessat faccessat2 fallocate fchdir fchmod fchmodat " +
		"fchmodat2 fcntl fcntl64 fgetxattr flistxattr fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs " +
		"fstatfs64 ftruncate ftruncate64 futimesat getcwd getdents getdents64 getxattr inotify_add_watch " +
		"inotify_init inotify_init1 inotify_rm_watch lgetxattr link linkat listxattr llistxattr lremovexattr " +
		"lsetxattr lstat lstat64 mkdir mkdirat mknod mknodat newfstatat oldfstat oldlstat oldstat open openat " +
		"openat2 readlink readlinkat removexattr rename renameat renameat2 rmdir setxattr stat stat64 statfs " +
		"statfs64 statx symlink symlinkat truncate truncate64 unlink unlinkat utime utimensat " +
		"utimensat_time64 utimes",
	"@io-event": "_newselect epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 " +
		"epoll_wait epoll_wait_old eventfd eventfd2 poll ppoll ppoll_time64 pselect6 pselect6_time64 select",
	"@ipc": "ipc memfd_create mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 " +
		"mq_timedsend mq_timedsend_time64 mq_unlink msgctl msgget msgrcv msgsnd pipe pipe2 process_madvise " +
		"process_vm_readv process_vm_writev semctl semget semop semtimedop semtimedop_time64 shmat shmctl " +
		"shmdt shmget",
	"@keyring": "add_key keyctl request_key",
	"@memlock": "mlock mlock2 mlockall munlock munlockall",
	"@module":  "delete_module finit_module init_module",
	"@mount": "chroot fsconfig fsmount fsopen fspick mount mount_setattr move_mount open_tree pivot_root " +
		"umount umount2",
	"@network-io": "accept accept4 bind connect getpeername getsockname getsockopt listen recv recvfrom " +
		"recvmmsg recvmmsg_time64 recvmsg send sendmmsg sendmsg sendto setsockopt shutdown socket socketcall " +
		"socketpair",
	"@obsolete": "_sysctl afs_syscall bdflush break create_module ftime get_kernel_syms getpmsg gtty idle " +
		"lock mpx prof profil putpmsg query_module security sgetmask ssetmask stime stty sysfs tuxcall ulimit " +
		"uselib ustat vserver",
	"@pkey": "pkey_alloc pkey_free pkey_mprotect",
	"@privileged": "@chown @clock @module @raw-io @reboot @swap _sysctl acct bpf capset chroot " +
		"fanotify_init fanotify_mark nfsservctl open_by_handle_at pivot_root quotactl quotactl_fd " +
		"setdomainname setfsuid setfsuid32 setgroups setgroups32 sethostname setresuid setresuid32 setreuid " +
		"setreuid32 setuid setuid32 vhangup",
	"@process": "capget clone clone3 execveat fork getrusage kill pidfd_getfd pidfd_open pidfd_send_signal " +
		"prctl rt_sigqueueinfo rt_tgsigqueueinfo setns swapcontext tgkill times tkill unshare vfork wait4 " +
		"waitid waitpid",
	"@raw-io": "ioperm iopl pciconfig_iobase pciconfig_read pciconfig_write s390_pci_mmio_read " +
		"s390_pci_mmio_write",
	"@reboot": "kexec_file_load kexec_load reboot",
	"@resources": "ioprio_set mbind migrate_pages move_pages nice sched_setaffinity sched_setattr " +
		"sched_setparam sched_setscheduler set_mempolicy set_mempolicy_home_node setpriority setrlimit",
	"@sandbox": "landlock_add_rule landlock_create_ruleset landlock_restrict_self seccomp",
	"@setuid": "setgid setgid32 setgroups setgroups32 setregid setregid32 setresgid setresgid32 setresuid " +
		"setresuid32 setreuid setreuid32 setuid setuid32",
	"@signal": "rt_sigaction rt_sigpending rt_sigprocmask rt_sigsuspend rt_sigtimedwait " +
		"rt_sigtimedwait_time64 sigaction sigaltstack signal signalfd signalfd4 sigpending sigprocmask " +
		"sigsuspend",
	"@swap": "swapoff swapon",
	"@sync": "fdatasync fsync msync sync sync_file_range sync_file_range2 syncfs",
	"@system-service": "@aio @basic-io @chown @default @file-system @io-event @ipc @keyring @memlock " +
		"@network-io @process @resources @setuid @signal @sync @timer brk capget capset copy_file_range " +
		"fadvise64 fadvise64_64 flock get_mempolicy getcpu getpriority ioctl ioprio_get kcmp madvise mremap " +
		"name_to_handle_at oldolduname olduname personality readahead readdir remap_file_pages " +
		"sched_get_priority_max sched_get_priority_min sched_getattr sched_getparam sched_getscheduler " +
		"sched_rr_get_interval sched_rr_get_interval_time64 sched_yield sendfile sendfile64 setfsgid " +
		"setfsgid32 setfsuid setfsuid32 setpgid setsid splice sysinfo tee umask uname userfaultfd vmsplice",
	"@timer": "alarm getitimer setitimer timer_create timer_delete timer_getoverrun timer_gettime " +
		"timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 " +
		"timerfd_settime timerfd_settime64 times",
}

// alwaysAllowed are the calls an allow list always includes, as in
// systemd: without them no program starts or ends.
var alwaysAllowed = []string{"execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn"}

// expandSyscalls adds the calls of one filter entry (a name or a group)
// to set.
func expandSyscalls(entry string, info *arch.Info, set map[string]bool, depth int) error {
	if !strings.HasPrefix(entry, "@") {
		if _, ok := info.SyscallNames[entry]; !ok {
			return fmt.Errorf("system_call_filter: unknown system call %q", entry)
		}
		set[entry] = true
		return nil
	}
	g, ok := syscallGroups[entry]
	if !ok || depth > 4 {
		return fmt.Errorf("system_call_filter: unknown group %q", entry)
	}
	for _, n := range strings.Fields(g) {
		if strings.HasPrefix(n, "@") {
			if err := expandSyscalls(n, info, set, depth+1); err != nil {
				return err
			}
		} else if _, ok := info.SyscallNames[n]; ok {
			set[n] = true
		}
	}
	return nil
}

// seccompFilter assembles a system_call_filter list with systemd's
// meaning into a classic BPF program (struct sock_filter, 8 bytes per
// instruction): when the first entry starts with "~" the listed calls are
// denied and later entries without "~" take calls out of the denied set;
// otherwise only the listed calls (and alwaysAllowed) are allowed, and
// later "~" entries take calls out. A denied call fails with EPERM, or
// kills the process when kill is set.
func seccompFilter(list []string, kill bool) ([]byte, error) {
	if len(list) == 0 {
		return nil, nil
	}
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, notSupported(fmt.Errorf("system_call_filter: %w", err))
	}
	deny := strings.HasPrefix(list[0], "~")
	set := map[string]bool{}
	if !deny {
		for _, n := range alwaysAllowed {
			if _, ok := info.SyscallNames[n]; ok {
				set[n] = true
			}
		}
	}
	for _, e := range list {
		neg := strings.HasPrefix(e, "~")
		one := map[string]bool{}
		if err := expandSyscalls(strings.TrimPrefix(e, "~"), info, one, 0); err != nil {
			return nil, err
		}
		for n := range one {
			if neg == deny {
				set[n] = true
			} else {
				delete(set, n)
			}
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	refuse := seccomp.ActionErrno // EPERM
	if kill {
		refuse = seccomp.ActionKillProcess
	}
	policy := seccomp.Policy{DefaultAction: seccomp.ActionAllow,
		Syscalls: []seccomp.SyscallGroup{{Names: names, Action: refuse}}}
	if !deny {
		policy = seccomp.Policy{DefaultAction: refuse,
			Syscalls: []seccomp.SyscallGroup{{Names: names, Action: seccomp.ActionAllow}}}
	}
	if len(names) == 0 {
		if deny {
			return nil, nil // nothing to deny
		}
		return nil, fmt.Errorf("system_call_filter %q allows nothing", list)
	}
	insns, err := policy.Assemble()
	if err != nil {
		return nil, fmt.Errorf("system_call_filter: %w", err)
	}
	// Calls of another ABI (int 0x80 on x86-64) are refused outright: the
	// policy's own check would give them its default action, which for a
	// deny list is "allow", and their numbers mean other calls.
	insns = append([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // seccomp_data.arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		bpf.RetConstant{Val: uint32(seccomp.ActionKillProcess)},
	}, insns...)
	if len(insns) > 4096 {
		return nil, fmt.Errorf("system_call_filter: %d BPF instructions, the kernel takes at most 4096", len(insns))
	}
	raw, err := bpf.Assemble(insns)
	if err != nil {
		return nil, fmt.Errorf("system_call_filter: %w", err)
	}
	out := make([]byte, 0, 8*len(raw))
	for _, r := range raw {
		out = binary.LittleEndian.AppendUint16(out, r.Op)
		out = append(out, r.Jt, r.Jf)
		out = binary.LittleEndian.AppendUint32(out, r.K)
	}
	return out, nil
}
