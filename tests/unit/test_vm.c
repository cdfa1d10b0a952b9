/* test_vm.c - src/vm rules without a QEMU: the state diagram that
 * vm_set_state() enforces. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "vm.h"

/* Every transition the code takes (vm.h's list), from -> to. */
static const struct { enum vm_state from, to; } allowed[] = {
	{ VM_CREATING, VM_OFF }, { VM_CREATING, VM_SAVED },
	{ VM_OFF, VM_STARTING }, { VM_CRASHED, VM_STARTING },
	{ VM_SAVED, VM_STARTING }, { VM_OFF, VM_DELETING },
	{ VM_CRASHED, VM_DELETING }, { VM_SAVED, VM_DELETING },
	{ VM_SAVED, VM_OFF }, { VM_STARTING, VM_RUNNING },
	{ VM_STARTING, VM_OFF }, { VM_STARTING, VM_SAVED },
	{ VM_STARTING, VM_STOPPING }, { VM_RUNNING, VM_PAUSED },
	{ VM_PAUSED, VM_RUNNING }, { VM_RUNNING, VM_STOPPING },
	{ VM_PAUSED, VM_STOPPING }, { VM_RUNNING, VM_OFF },
	{ VM_PAUSED, VM_OFF }, { VM_RUNNING, VM_CRASHED },
	{ VM_PAUSED, VM_CRASHED }, { VM_RUNNING, VM_SAVING },
	{ VM_PAUSED, VM_SAVING }, { VM_STOPPING, VM_OFF },
	{ VM_STOPPING, VM_SAVED }, { VM_STOPPING, VM_RUNNING },
	{ VM_SAVING, VM_SAVED }, { VM_SAVING, VM_RUNNING },
	{ VM_SAVING, VM_PAUSED }, { VM_SAVING, VM_CRASHED },
	{ VM_INCOMING, VM_RUNNING }, { VM_INCOMING, VM_OFF },
	{ VM_OFF, VM_CRASHED },
};

static bool
in_list(enum vm_state from, enum vm_state to)
{
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (allowed[i].from == from && allowed[i].to == to)
			return true;
	return from == to;
}

static void
test_transitions_match_diagram(void)
{
	for (int f = 0; f < VM__COUNT; f++)
		for (int t = 0; t < VM__COUNT; t++)
			if (vm_state_can_change(f, t) != in_list(f, t)) {
				fprintf(stderr, "%s -> %s\n",
				    vm_state_name(f), vm_state_name(t));
				ASSERT_EQ(vm_state_can_change(f, t),
				    in_list(f, t));
			}
}

static void
test_transitions_refused(void)
{
	ASSERT_TRUE(!vm_state_can_change(VM_OFF, VM_RUNNING));
	ASSERT_TRUE(!vm_state_can_change(VM_DELETING, VM_OFF));
	ASSERT_TRUE(!vm_state_can_change(VM_CRASHED, VM_RUNNING));
	ASSERT_TRUE(!vm_state_can_change(VM_SAVED, VM_RUNNING));
	ASSERT_TRUE(!vm_state_can_change(VM__COUNT, VM_OFF));
}

int
main(void)
{
	RUN_TEST(test_transitions_match_diagram);
	RUN_TEST(test_transitions_refused);
	return TEST_REPORT();
}
