/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NVMe/TCP host's association (cards/ebs/nvmf_host.c) against a
 * scripted target on a real TCP socket (tests/unit/nvmf_target_env.h): an
 * idle association keeps itself alive with Keep Alive on the admin queue.
 * Set-up runs in every test of both programs; reconnect after a fatal PDU
 * is test_nvmf_pdu's.
 */
#include "tests/unit/nvmf_target_env.h"

/* An idle association sends Keep Alive on the admin queue every KATO / 2. */
static void test_keep_alive(void **state)
{
	struct nvmf_ctrl *c = connect_host(false, 100);
	int ep = epoll_create1(0), spins = 0;
	struct epoll_event ev = { .events = EPOLLIN };

	(void)state;
	f.keep_alives = 0;
	epoll_ctl(ep, EPOLL_CTL_ADD, nvmf_ctrl_fd(c), &ev);
	while (f.keep_alives < 3 && spins++ < 500) {
		if (epoll_wait(ep, &ev, 1, 10) > 0)
			nvmf_ctrl_process(c);
	}
	close(ep);
	assert_true(f.keep_alives >= 3);
	assert_true(nvmf_ctrl_live(c));
	assert_int_equal(nvmf_ctrl_info(c)->reconnects, 0);
	nvmf_ctrl_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keep_alive),
	};

	return cmocka_run_group_tests(tests, fake_start, fake_stop);
}
