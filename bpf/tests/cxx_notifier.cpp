// Target for fdtrack's demangling test: a C++ method of a class in a
// namespace leaks an eventfd (build/test/bpf/cxx_notifier, g++ -O1 -g).
#include <sys/eventfd.h>
#include <cstdio>

namespace executor {

class SleepNotifier {
public:
	// noinline: its frame must be on the stack of the open
	__attribute__((noinline)) int open_eventfd(unsigned initial);
	int fd = -1;
};

int SleepNotifier::open_eventfd(unsigned initial)
{
	fd = eventfd(initial, 0);
	asm volatile("" ::: "memory"); // no tail call
	return fd;
}

} // namespace executor

int main()
{
	executor::SleepNotifier n;

	std::printf("fd %d\n", n.open_eventfd(0)); // never closed
	return n.fd < 0;
}
