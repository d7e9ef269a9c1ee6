/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cv-hv's states and reasons in libvirt's vocabulary (tools/lib/domain_state.c):
 * every pair cv-hv can report has libvirt's pair, with libvirt's numbers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hv/vm.h"
#include "tools/lib/domain_state.h"

static void expect(const char *state, const char *reason, int lv_state, const char *state_name,
		   int lv_reason, const char *reason_name)
{
	struct domain_state ds;

	assert_int_equal(domain_state_from_hv(state, reason, &ds), 0);
	assert_int_equal(ds.state, lv_state);
	assert_string_equal(ds.state_name, state_name);
	assert_int_equal(ds.reason, lv_reason);
	assert_string_equal(ds.reason_name, reason_name);
}

/* The numbers are libvirt's stable ABI (libvirt-domain.h); written out here on purpose. */
static void test_libvirt_pairs(void **state)
{
	(void)state;
	expect("pending", "starting", 3, "VIR_DOMAIN_PAUSED", 11, "VIR_DOMAIN_PAUSED_STARTING_UP");
	expect("running", "booted", 1, "VIR_DOMAIN_RUNNING", 1, "VIR_DOMAIN_RUNNING_BOOTED");
	expect("running", "resumed", 1, "VIR_DOMAIN_RUNNING", 5, "VIR_DOMAIN_RUNNING_UNPAUSED");
	expect("paused", "requested", 3, "VIR_DOMAIN_PAUSED", 1, "VIR_DOMAIN_PAUSED_USER");
	expect("stopping", "requested", 4, "VIR_DOMAIN_SHUTDOWN", 1, "VIR_DOMAIN_SHUTDOWN_USER");
	expect("stopping", "crashed", 6, "VIR_DOMAIN_CRASHED", 0, "VIR_DOMAIN_CRASHED_UNKNOWN");
	expect("stopped", "guest", 5, "VIR_DOMAIN_SHUTOFF", 1, "VIR_DOMAIN_SHUTOFF_SHUTDOWN");
	expect("stopped", "requested", 5, "VIR_DOMAIN_SHUTOFF", 2, "VIR_DOMAIN_SHUTOFF_DESTROYED");
	expect("stopped", "crashed", 5, "VIR_DOMAIN_SHUTOFF", 3, "VIR_DOMAIN_SHUTOFF_CRASHED");
	expect("stopped", "failed", 5, "VIR_DOMAIN_SHUTOFF", 6, "VIR_DOMAIN_SHUTOFF_FAILED");
	expect("unreachable", NULL, 0, "VIR_DOMAIN_NOSTATE", 0, "VIR_DOMAIN_NOSTATE_UNKNOWN");
}

/* Every state and cause cv-hv has maps to something: the two tables cannot drift apart. */
static void test_every_hv_pair_maps(void **state)
{
	static const enum vm_state states[] = { VM_STATE_PENDING, VM_STATE_RUNNING,
						 VM_STATE_PAUSED, VM_STATE_STOPPING,
						 VM_STATE_STOPPED };
	static const enum vm_stop_cause causes[] = { VM_STOP_GUEST, VM_STOP_REQUESTED,
						     VM_STOP_CRASHED, VM_STOP_FAILED };
	struct domain_state ds;
	struct vm vm = { 0 };

	(void)state;
	for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
		for (size_t c = 0; c < sizeof(causes) / sizeof(causes[0]); c++) {
			for (int resumed = 0; resumed < 2; resumed++) {
				vm.state = states[s];
				vm.stop_cause = causes[c];
				vm.resumed = resumed;
				assert_int_equal(domain_state_from_hv(vm_state_name(vm.state),
								      vm_state_reason(&vm), &ds),
						 0);
				assert_int_not_equal(ds.state, 0);
			}
		}
	}
}

/* What cv-hv never says (or an older cv-hv without reasons) is "no state", and says so. */
static void test_unknown_pairs(void **state)
{
	struct domain_state ds;

	(void)state;
	assert_int_equal(domain_state_from_hv("running", NULL, &ds), -EINVAL);
	assert_int_equal(ds.state, 0);
	assert_string_equal(ds.state_name, "VIR_DOMAIN_NOSTATE");
	assert_int_equal(domain_state_from_hv("running", "crashed", &ds), -EINVAL);
	assert_int_equal(domain_state_from_hv("hibernating", "booted", &ds), -EINVAL);
	assert_int_equal(domain_state_from_hv(NULL, NULL, &ds), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libvirt_pairs),
		cmocka_unit_test(test_every_hv_pair_maps),
		cmocka_unit_test(test_unknown_pairs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
