/*
 * The command fdtrack runs (-- CMD): as whom, started once the BPF programs
 * are attached, and its ptrace stops.
 *
 * The child waits on a pipe until fdtrack has attached, then execs; if it
 * cannot (no such file, no permission, cannot switch user), it sends errno
 * on a close-on-exec pipe and exits, and fdtrack reports that as its own
 * error, not as a clean run. fdtrack ptrace-seizes it with
 * PTRACE_O_TRACEEXIT (and, with --follow, PTRACE_O_TRACEFORK, VFORK and
 * CLONE, as strace -f does, so every process it starts is traced too): the
 * exit stop comes at the start of do_exit, while the fd table and the
 * memory map are intact, so fdtrack reads what symbolising needs right
 * then. Nothing else is intercepted; signals are passed on unchanged.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdtrack_cli.h"

const int cli_stop_signals[] = { SIGINT, SIGTERM, SIGHUP };
const size_t cli_nstop_signals = sizeof(cli_stop_signals) / sizeof(int);

static int parse_id(const char *name, unsigned *out)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s)
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > 0xfffffffeUL) {
		fprintf(stderr,
			"fdtrack: %s='%s' is not a user/group id; unset "
			"it or pass --run-as-root\n",
			name, s);
		return -1;
	}
	*out = v;
	return 1;
}

int run_as_setup(bool run_as_root, struct run_as *ra)
{
	unsigned uid, gid;
	int u, g;

	*ra = (struct run_as){ 0 };
	if (run_as_root || geteuid() != 0)
		return 0;
	u = parse_id("SUDO_UID", &uid);
	g = parse_id("SUDO_GID", &gid);
	if (u < 0 || g < 0)
		return -1;
	if (!u)
		return 0; /* not under sudo */
	ra->drop = true;
	ra->uid = uid;
	ra->gid = g ? gid : uid;
	return 0;
}

/* In the child: tell fdtrack why CMD did not start ({stage, errno}). */
static _Noreturn void child_failed(int err_fd, int stage)
{
	int msg[2] = { stage, errno };

	if (write(err_fd, msg, sizeof(msg)) < 0)
		_exit(127);
	_exit(127);
}

static _Noreturn void child_main(char **argv, const struct run_as *ra,
				 const sigset_t *mask, int go, int err_fd)
{
	char c;

	for (size_t i = 0; i < cli_nstop_signals; i++)
		signal(cli_stop_signals[i], SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	if (ra->drop &&
	    (setgroups(0, NULL) || setgid(ra->gid) || setuid(ra->uid)))
		child_failed(err_fd, 1);
	if (read(go, &c, 1) != 1)
		_exit(127); /* fdtrack gave up */
	close(go);
	execvp(argv[0], argv);
	child_failed(err_fd, 0);
}

int command_spawn(struct command *c, char **argv, const struct run_as *ra,
		  const sigset_t *mask)
{
	int go[2], err[2];

	*c = (struct command){ .argv = argv, .go_fd = -1, .err_fd = -1 };
	if (pipe2(go, O_CLOEXEC))
		goto fail;
	if (pipe2(err, O_CLOEXEC)) {
		close(go[0]);
		close(go[1]);
		goto fail;
	}
	c->pid = fork();
	if (c->pid == 0) {
		close(go[1]);
		close(err[0]);
		child_main(argv, ra, mask, go[0], err[1]);
	}
	close(go[0]);
	close(err[1]);
	if (c->pid < 0) {
		close(go[1]);
		close(err[0]);
		goto fail;
	}
	c->go_fd = go[1];
	c->err_fd = err[0];
	fcntl(c->err_fd, F_SETFL, O_NONBLOCK);
	return 0;
fail:
	fprintf(stderr, "fdtrack: cannot start '%s': %s\n", argv[0],
		strerror(errno));
	return -1;
}

int command_start(struct command *c, bool follow)
{
	long opts = PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL;

	if (follow)
		opts |= PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
			PTRACE_O_TRACECLONE;
	c->traced = ptrace(PTRACE_SEIZE, c->pid, 0, opts) == 0;
	if (!c->traced)
		fprintf(stderr,
			"fdtrack: warning: cannot ptrace the command "
			"(%s): stacks of processes that exit quickly may stay "
			"unresolved\n",
			strerror(errno));
	if (write(c->go_fd, "g", 1) != 1) {
		fprintf(stderr, "fdtrack: cannot start the command: %s\n",
			strerror(errno));
		return -1;
	}
	close(c->go_fd);
	c->go_fd = -1;
	return 0;
}

/* EOF on the error pipe: CMD exec'd (the pipe is close-on-exec); data: why
 * it did not. Never blocks (a signal-delivery stop before the exec must
 * not deadlock us). */
static void check_started(struct command *c)
{
	int msg[2];
	ssize_t n;

	if (c->err_fd < 0 || c->go_fd >= 0)
		return;
	n = read(c->err_fd, msg, sizeof(msg));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == sizeof(msg)) {
		c->start_what = msg[0] ? "switch user for" : "run";
		c->start_errno = msg[1];
	}
	close(c->err_fd);
	c->err_fd = -1;
}

/* One stop of a traced thread tid. */
static void on_stop(struct fdtrack *t, pid_t tid, int st)
{
	int sig = WSTOPSIG(st);

	switch (st >> 16) {
	case PTRACE_EVENT_EXIT:
		fdtrack_exit_stop(t, tid); /* the process is still whole */
		ptrace(PTRACE_CONT, tid, 0, 0);
		break;
	case PTRACE_EVENT_STOP:
		if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN ||
		    sig == SIGTTOU)
			ptrace(PTRACE_LISTEN, tid, 0, 0); /* group-stop */
		else
			ptrace(PTRACE_CONT, tid, 0, 0); /* a new tracee */
		break;
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK:
	case PTRACE_EVENT_CLONE:
		ptrace(PTRACE_CONT, tid, 0, 0);
		break;
	default:
		/* signal-delivery-stop: deliver it unchanged */
		ptrace(PTRACE_CONT, tid, 0, sig);
		break;
	}
}

void command_reap(struct fdtrack *t, struct command *c)
{
	pid_t r;
	int st;

	check_started(c);
	/* __WALL: threads and the processes ptrace made ours too */
	while ((r = waitpid(-1, &st, WNOHANG | __WALL)) > 0) {
		if (WIFSTOPPED(st)) {
			on_stop(t, r, st);
		} else if (r == c->pid && (WIFEXITED(st) || WIFSIGNALED(st))) {
			c->done = true;
			c->status = WIFEXITED(st) ? WEXITSTATUS(st)
						  : 128 + WTERMSIG(st);
			check_started(c); /* its reason is in the pipe now */
		}
	}
}

void command_kill(struct command *c)
{
	if (c->go_fd >= 0)
		close(c->go_fd); /* never started: it exits by itself */
	if (c->err_fd >= 0)
		close(c->err_fd);
	c->go_fd = c->err_fd = -1;
	if (c->pid <= 0 || c->done)
		return;
	kill(c->pid, SIGKILL);
	while (waitpid(c->pid, NULL, __WALL) < 0 && errno == EINTR)
		;
	c->done = true;
}
