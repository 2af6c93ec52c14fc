/*
 * Target program for fdtrack's SCM_RIGHTS test: a parent passes fds over a
 * unix socket to its child, which receives them with recvmsg and recvmmsg.
 *
 *   scm_rights
 *
 * The parent sends an eventfd, a pipe's read end and /dev/null in one
 * message, then two messages of two eventfds each, and closes its own
 * copies. The child receives the first with recvmsg (recv_with_recvmsg) and
 * the others with one recvmmsg (recv_with_recvmmsg), closes everything but
 * the first eventfd of the recvmmsg batch, which it leaks. Exits 0.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int send_fds(int sock, const int *fds, int n)
{
	char byte = 'x', ctl[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = ctl,
			      .msg_controllen = CMSG_SPACE(n * sizeof(int)) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	memset(ctl, 0, sizeof(ctl));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

/* The fds of one received message into out; how many. */
static int fds_of(struct msghdr *msg, int *out)
{
	int n = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			memcpy(out + n, CMSG_DATA(c), k * sizeof(int));
			n += k;
		}
	return n;
}

__attribute__((noinline)) static int recv_with_recvmsg(int sock, int *out)
{
	char byte, ctl[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = ctl,
			      .msg_controllen = sizeof(ctl) };

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	return fds_of(&msg, out);
}

__attribute__((noinline)) static int recv_with_recvmmsg(int sock, int *out)
{
	char bytes[2], ctl[2][CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov[2] = { { &bytes[0], 1 }, { &bytes[1], 1 } };
	struct mmsghdr m[2];
	int n = 0, got;

	memset(m, 0, sizeof(m));
	for (int i = 0; i < 2; i++) {
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
		m[i].msg_hdr.msg_control = ctl[i];
		m[i].msg_hdr.msg_controllen = sizeof(ctl[i]);
	}
	got = recvmmsg(sock, m, 2, MSG_WAITFORONE, NULL);
	for (int i = 0; i < got; i++)
		n += fds_of(&m[i].msg_hdr, out + n);
	if (got == 1) /* the second message was not there yet */
		return recv_with_recvmsg(sock, out + n) + n;
	return got == 2 ? n : -1;
}

static int child(int sock)
{
	int first[4], batch[8], n1, n2;

	n1 = recv_with_recvmsg(sock, first);
	n2 = recv_with_recvmmsg(sock, batch);
	if (n1 != 3 || n2 != 4)
		return 1;
	for (int i = 0; i < n1; i++)
		close(first[i]);
	for (int i = 1; i < n2; i++) /* batch[0] leaks */
		close(batch[i]);
	return 0;
}

int main(void)
{
	int sv[2], p[2], status, first[3], efd[4];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) || pipe(p))
		return 1;
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		close(p[0]);
		close(p[1]);
		_exit(child(sv[1]));
	}
	close(sv[1]);
	first[0] = eventfd(0, 0);
	first[1] = p[0];
	first[2] = open("/dev/null", O_RDONLY);
	for (int i = 0; i < 4; i++)
		efd[i] = eventfd(0, 0);
	if (send_fds(sv[0], first, 3) || send_fds(sv[0], efd, 2) ||
	    send_fds(sv[0], efd + 2, 2))
		return 1;
	for (int i = 0; i < 3; i++)
		close(first[i]);
	for (int i = 0; i < 4; i++)
		close(efd[i]);
	close(p[1]);
	close(sv[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 1;
	return WEXITSTATUS(status);
}
