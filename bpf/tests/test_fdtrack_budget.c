/*
 * The kernel side's verifier budget, as the kernel counts it: every
 * program of every mode (default, --frame-pointers, --no-stacks, each with
 * and without -f) loads here, and the instructions the verifier processed
 * for each (bpf_prog_info.verified_insns) stay within 150,000, 15% of the
 * kernel's 1,000,000; the combined BPF stack of the deepest call chain
 * stays within 448 bytes of the kernel's 512 (bpf/tools/stack_budget.py
 * over the object). A kernel that rejects a program fails the test: BPF is
 * permitted here, so a load failure is a defect, not a skip.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_runner.h"
#include "fdtrack_testlib.h"

#define INSN_BUDGET  150000u
#define STACK_BUDGET 448

/* Each mode with each of the two objects (bpf/build.mk): the one this
 * kernel gets, and (FDTRACK_CORE_READS=1) the one 6.1 gets. */
static const struct {
	const char *name;
	int follow, stacks, fp_only;
} modes[] = {
	{ "default", 0, 1, 0 },
	{ "--frame-pointers", 0, 1, 1 },
	{ "--no-stacks", 0, 0, 0 },
	{ "-f", 1, 1, 0 },
	{ "-f --frame-pointers", 1, 1, 1 },
	{ "-f --no-stacks", 1, 0, 0 },
};

#define NMODES (int)(sizeof(modes) / sizeof(modes[0]))

START_TEST(test_insn_budget)
{
	int m = _i % NMODES, core = _i / NMODES;
	struct fdtrack_options o = { .follow = modes[m].follow,
				     .want_stacks = modes[m].stacks,
				     .frame_pointers_only = modes[m].fp_only };
	struct fdtrack_bpf_stats st;
	struct fdtrack *t;
	int to_child[2], status;
	pid_t child;

	ck_assert_int_eq(pipe(to_child), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) { /* waits to be watched, then exits */
		char c;

		close(to_child[1]);
		_exit(read(to_child[0], &c, 1) == 1 ? 0 : 1);
	}
	close(to_child[0]);
	if (core)
		setenv("FDTRACK_CORE_READS", "1", 1);
	t = open_or_skip(child, &o);
	unsetenv("FDTRACK_CORE_READS");
	if (t) {
		fdtrack_get_bpf_stats(t, &st);
		if (core)
			ck_assert_int_eq(st.kfunc_reads, 0);
		ck_assert_msg(st.nprogs >= 3, "%s: %d programs", modes[m].name,
			      st.nprogs);
		for (int i = 0; i < st.nprogs; i++) {
			printf("%s (%s reads): %s %u verified insns\n",
			       modes[m].name, st.kfunc_reads ? "kfunc" : "CO-RE",
			       st.prog[i].name, st.prog[i].verified_insns);
			ck_assert_msg(st.prog[i].verified_insns > 0 &&
					      st.prog[i].verified_insns <=
						      INSN_BUDGET,
				      "%s: program %s: %u verified insns "
				      "(budget %u)",
				      modes[m].name, st.prog[i].name,
				      st.prog[i].verified_insns, INSN_BUDGET);
		}
		fdtrack_close(t);
	}
	ck_assert_int_eq(write(to_child[1], "x", 1), 1);
	close(to_child[1]);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
}
END_TEST

START_TEST(test_stack_budget)
{
	char cmd[4096], out[] = "/tmp/fdtrack-test-XXXXXX";
	int fd = mkstemp(out), rc;

	ck_assert_int_ge(fd, 0);
	close(fd);
	const char *obj = _i ? FDT_BPF_CORE_OBJ_PATH : FDT_BPF_OBJ_PATH;

	snprintf(cmd, sizeof(cmd), "python3 %s %s %d > %s 2>&1",
		 FDT_STACK_BUDGET_PATH, obj, STACK_BUDGET, out);
	rc = system(cmd);
	printf("%s", slurp(out));
	ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 0,
		      "combined BPF stack over %d bytes (or no answer): %s",
		      STACK_BUDGET, slurp(out));
	ck_assert_msg(strstr(slurp(out), "largest combined stack"), "%s",
		      slurp(out));
	unlink(out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fdtrack_budget");
	TCase *tc = tcase_create("budget");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_insn_budget, 0, 2 * NMODES);
	tcase_add_loop_test(tc, test_stack_budget, 0, 2);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
