/* The Check suite runner every test program's main() ends with. */
#ifndef COMMON_CHECK_RUNNER_H
#define COMMON_CHECK_RUNNER_H

#include <check.h>

/* Run every test of s (CK_NORMAL output; CK_RUN_CASE / CK_RUN_SUITE and
 * CK_FORK from the environment as Check reads them), free the runner,
 * return EXIT_SUCCESS or EXIT_FAILURE for main(). */
int check_run_suite(Suite *s);

#endif
