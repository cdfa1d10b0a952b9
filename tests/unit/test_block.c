/* test_block.c - src/vm/block.c: who holds an image, asked of the kernel.
 * A real qemu-io holds QEMU's image locks on a qcow2 file while it runs;
 * the probe must see them as held elsewhere, as not held when the VM's own
 * QEMU is that process, and not held once it exits. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "util.h"
#include "vm.h"

extern char **environ;

static char dir[] = "/tmp/tern-test-block-XXXXXX";
static char img[128];

static pid_t
spawn(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int r;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return r == 0 ? pid : -1;
}

static int
run(char *const argv[])
{
	pid_t pid = spawn(argv);
	int st = 0;

	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Until the lock probe answers want (or 5 s pass). */
static int
probe_until(const struct vm *vm, int want)
{
	int r = -1;

	for (int i = 0; i < 500; i++) {
		if ((r = vm_image_locked_elsewhere(vm, img)) == want)
			break;
		usleep(10000);
	}
	return r;
}

static void
test_locks(void)
{
	char *create[] = { "qemu-img", "create", "-q", "-f", "qcow2", img,
	    "16M", NULL };
	char *hold[] = { "qemu-io", "-f", "qcow2", "-c", "sleep 30000", img,
	    NULL };
	struct vm other = { .pid = 0 }, self = { 0 };
	pid_t holder;
	int st;

	ASSERT_EQ(run(create), 0);
	ASSERT_EQ(vm_image_locked_elsewhere(&other, img), 0);
	holder = spawn(hold);
	ASSERT_TRUE(holder > 0);
	/* Another process (qemu-io, as a destination QEMU would) holds
	 * the image: held elsewhere. */
	ASSERT_EQ(probe_until(&other, 1), 1);
	/* The VM's own QEMU holds it: not elsewhere. */
	self.pid = holder;
	ASSERT_EQ(vm_image_locked_elsewhere(&self, img), 0);
	kill(holder, SIGKILL);
	waitpid(holder, &st, 0);
	ASSERT_EQ(probe_until(&other, 0), 0);
	ASSERT_EQ(vm_image_locked_elsewhere(&other, "/nonexistent/x.qcow2"),
	    -ENOENT);
}

/* The names tern gives QEMU's block layer: a launched QEMU's nodes, a
 * job's own nodes, block jobs and exports (they must stay apart: a
 * restarted ternd finds its mirrors by them). */
static void
test_names(void)
{
	char b[VM_NODE_NAME_MAX];

	vm_node_name(b, "vda", "fmt", 0);
	ASSERT_STREQ(b, "vda-fmt");
	vm_node_name(b, "vdb", "file", 12);
	ASSERT_STREQ(b, "vdb-file-J12");
	vm_block_id(b, "mv", "vda", 7);
	ASSERT_STREQ(b, "mv-vda-7");
	vm_block_id(b, "exp", "vdc", 0);
	ASSERT_STREQ(b, "exp-vdc");
	vm_node_name(b, "vdp", "file", INT64_MAX);
	ASSERT_STREQ(b, "vdp-file-J9223372036854775807");
}

int
main(void)
{
	if (!mkdtemp(dir))
		abort();
	snprintf(img, sizeof(img), "%s/img.qcow2", dir);
	RUN_TEST(test_locks);
	RUN_TEST(test_names);
	(void)unlink(img);
	(void)rmdir(dir);
	return TEST_REPORT();
}
