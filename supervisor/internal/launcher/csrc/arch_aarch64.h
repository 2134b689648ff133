/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The aarch64 half of the launcher's architecture bits: syscall numbers of
 * the generic table (asm-generic/unistd.h), the syscall stubs and the entry
 * point. launcher.c holds the x86-64 ones inline.
 */

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

/* svc #0 with the number in x8 and the arguments in x0-x5; the result
 * comes back in x0. */
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

/* Entry: hand the initial stack (argc, argv...) to launcher_main; sp is
 * 16-byte aligned at entry on aarch64, and the frame pointer and link
 * register start at zero to end the call chain. */
__asm__(".text\n"
	".global _start\n"
	"_start:\n"
	"	mov x29, #0\n"
	"	mov x30, #0\n"
	"	mov x0, sp\n"
	"	bl launcher_main\n"
	"	brk #0\n");
