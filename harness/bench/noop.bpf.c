// SPDX-License-Identifier: GPL-2.0
/*
 * The floor of any syscall-tracepoint tracker: one tp_btf/sys_exit program
 * that does nothing. Attaching it puts every syscall on the machine on the
 * traced slow path, which is the cost fdtrack cannot avoid; the benchmark
 * compares fdtrack's overhead with this one's (fdtrack_syscall_overhead).
 *
 * Self-contained on purpose (no vmlinux.h, no libbpf headers): the program
 * reads nothing; the kernel resolves "sys_exit" against its own BTF at load.
 */
#define SEC(name) __attribute__((section(name), used))

typedef unsigned long long u64;

SEC("tp_btf/sys_exit")
int bench_noop(u64 *ctx)
{
	(void)ctx;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
