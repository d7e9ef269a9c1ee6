# SPDX-License-Identifier: Apache-2.0
# cardvisor: `make deps` once on a fresh Debian 12 machine, then `make test`.

CC      ?= gcc
BUILD   ?= build
V       ?= 0
SAN     ?= 0

# Debian packages needed to build and test (apt-get only; nothing else is fetched).
DEPS_PKGS := gcc clang make pkg-config binutils linux-libc-dev \
	liburing-dev libfdt-dev libssl-dev libcmocka-dev libjson-c-dev \
	busybox-static cpio lz4 xz-utils zstd kmod python3 ca-certificates \
	tshark iproute2 qemu-system-x86 dpdk-dev fio libfuzzer-14-dev \
	libcap-ng-dev libseccomp-dev zlib1g-dev nvme-cli libvirt-dev qemu-utils e2fsprogs \
	libcurl4-openssl-dev etcd-server etcd-client

CFLAGS_BASE := -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE \
	-I. -pthread -MMD -MP
# --as-needed: a program depends on a library only if it calls it (no
# libcurl in cv-hv or a card, which never talk to etcd).
LDLIBS := -Wl,--as-needed -lfdt -ljson-c -lcurl -lssl -lcrypto -lz -luring -lcap-ng -lseccomp -pthread
ifeq ($(SAN),1)
CFLAGS_BASE += -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif
HOST_CFLAGS := $(CFLAGS_BASE) $(CFLAGS)

# The test guest is freestanding: no libc, no SSE (the kernel part stays
# simple for any KVM's instruction emulator), linked at its physical address.
GUEST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -I. -ffreestanding \
	-fno-pic -fno-pie -fno-stack-protector -fno-builtin -mno-red-zone \
	-mno-sse -mno-mmx -mno-80387 -mgeneral-regs-only -fcf-protection=none \
	-fno-asynchronous-unwind-tables -MMD -MP
GUEST_LDFLAGS := -nostdlib -static -Wl,--build-id=none \
	-Wl,-T,tests/guest/guest.ld -Wl,-z,max-page-size=4096 -Wl,-z,noexecstack

LIB_SRCS   := $(wildcard tools/lib/*.c)
HV_SRCS    := $(filter-out hv/main.c,$(wildcard hv/*.c))
# The EBS card's core (everything but its main) is a library its tests link.
EBS_SRCS   := $(filter-out cards/ebs/main.c,$(wildcard cards/ebs/*.c))
VPC_SRCS   := $(filter-out cards/vpc/main.c,$(wildcard cards/vpc/*.c))
# What more than one card uses: virtqueues and the vhost-user back-end.
CARDLIB_SRCS := $(wildcard cards/lib/*.c)
STORAGED_SRCS := $(filter-out tools/storaged/main.c,$(wildcard tools/storaged/*.c))
# Helpers the integration tests drive (peers, malformed-input senders).
TTOOL_SRCS := $(wildcard tests/tools/*.c)
# Benchmark programs `make bench` runs (tools/bench/run.sh drives them).
BENCH_SRCS := $(wildcard tools/bench/*.c)
UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
FIXTURE_SRCS := $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
GUEST_SRCS := $(wildcard tests/guest/*.c tests/guest/*.S)

LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/%.o)
HV_OBJS    := $(HV_SRCS:%.c=$(BUILD)/%.o)
EBS_OBJS   := $(EBS_SRCS:%.c=$(BUILD)/%.o)
VPC_OBJS   := $(VPC_SRCS:%.c=$(BUILD)/%.o)
CARDLIB_OBJS := $(CARDLIB_SRCS:%.c=$(BUILD)/%.o)
STORAGED_OBJS := $(STORAGED_SRCS:%.c=$(BUILD)/%.o)
TTOOL_BINS := $(TTOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/tools/%)
BENCH_BINS := $(BENCH_SRCS:tools/bench/%.c=$(BUILD)/bench/%)
GUEST_OBJS := $(patsubst %,$(BUILD)/guest-obj/%.o,$(basename $(GUEST_SRCS)))
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FIXTURE_OBJS := $(FIXTURE_SRCS:%.c=$(BUILD)/%.o)

# Card and daemon binaries exist once their main.c does.
BINS := $(BUILD)/cv-hv $(BUILD)/cardvisor \
	$(if $(wildcard tools/storaged/main.c),$(BUILD)/cv-storaged) \
	$(if $(wildcard cards/ebs/main.c),$(BUILD)/cv-ebs) \
	$(if $(wildcard cards/vpc/main.c),$(BUILD)/cv-vpc)
# Everything but cv-hv's own main: what tests and tools link against.
LIBS := $(BUILD)/libstoraged.a $(BUILD)/libebs.a $(BUILD)/libvpc.a \
	$(BUILD)/libcards.a $(BUILD)/libhv.a $(BUILD)/libcv.a
GUEST := $(BUILD)/guest/cv-testguest.elf

ifeq ($(V),0)
Q = @
msg = @printf '  %-7s %s\n' $(1) $(2);
endif

.PHONY: all deps test test-boot test-boot-full test-nested test-unit test-integration asan \
	bench demo demo-testguest clean fuzz fuzz-build
all: $(BINS) $(GUEST) $(UNIT_BINS) $(TTOOL_BINS) $(BENCH_BINS)

$(BUILD)/%.o: %.c
	$(call msg,CC,$<)
	$(Q)mkdir -p $(@D) && $(CC) $(HOST_CFLAGS) -c -o $@ $<

# Each archive's members; the one recipe for every archive (LIBS and the
# fuzzing build's FUZZ_LIBS) follows the fuzzing rules below.
$(BUILD)/libcv.a: $(LIB_OBJS)
$(BUILD)/libhv.a: $(HV_OBJS)
$(BUILD)/libebs.a: $(EBS_OBJS)
$(BUILD)/libvpc.a: $(VPC_OBJS)
$(BUILD)/libcards.a: $(CARDLIB_OBJS)
$(BUILD)/libstoraged.a: $(STORAGED_OBJS)

$(BUILD)/cv-hv: $(BUILD)/hv/main.o $(BUILD)/libhv.a $(BUILD)/libcv.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(HOST_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/cardvisor: $(BUILD)/tools/cardvisor.o $(BUILD)/tools/cardvisor_fleet.o $(BUILD)/libcv.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(HOST_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/cv-storaged: $(BUILD)/tools/storaged/main.o $(BUILD)/libstoraged.a $(BUILD)/libcv.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(HOST_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/cv-ebs: $(BUILD)/cards/ebs/main.o $(BUILD)/libebs.a $(BUILD)/libcards.a \
		$(BUILD)/libcv.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(HOST_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/cv-vpc: $(BUILD)/cards/vpc/main.o $(BUILD)/libvpc.a $(BUILD)/libcards.a \
		$(BUILD)/libcv.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(HOST_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(UNIT_BINS): $(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(FIXTURE_OBJS) $(LIBS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(HOST_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka
$(TTOOL_BINS): $(BUILD)/tests/tools/%: $(BUILD)/tests/tools/%.o $(LIBS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(HOST_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BENCH_BINS): $(BUILD)/bench/%: $(BUILD)/tools/bench/%.o $(LIBS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(HOST_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/guest-obj/%.o: %.c
	$(call msg,GUESTCC,$<)
	$(Q)mkdir -p $(@D) && $(CC) $(GUEST_CFLAGS) -c -o $@ $<
$(BUILD)/guest-obj/%.o: %.S
	$(call msg,GUESTAS,$<)
	$(Q)mkdir -p $(@D) && $(CC) $(GUEST_CFLAGS) -c -o $@ $<
$(GUEST): $(GUEST_OBJS) tests/guest/guest.ld
	$(call msg,GUESTLD,$@)
	$(Q)mkdir -p $(@D) && $(CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $(GUEST_OBJS)

deps:
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update
	DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) \
		apt-get install -y --no-install-recommends $(DEPS_PKGS)

test: all
	$(Q)tests/run.sh $(BUILD)

asan:
	$(MAKE) BUILD=build/asan SAN=1 test

# The stock Debian kernel under cv-hv and under QEMU with our cards (also in `test`).
test-boot: all
	$(Q)st=0; for t in stock_linux boot_qemu; do tests/run.sh $(BUILD) $$t || st=1; done; exit $$st
# The same with the full stock boot on a software KVM (minutes; only to /init).
test-boot-full: all
	$(Q)st=0; for t in stock_linux boot_qemu; do STOCK_FULL=1 tests/run.sh $(BUILD) $$t || st=1; \
		done; exit $$st
# cv-hv on kvm_amd nested under QEMU TCG: Linux user space with its cards (also in `test`).
test-nested: all
	$(Q)tests/run.sh $(BUILD) nested

# Figures are ratios against a baseline measured in the same run (docs/benchmarks.md).
bench: all
	$(Q)tools/bench/run.sh $(BUILD)

# Debian's kernel with a NIC and a volume (nested under QEMU TCG without VT-x/AMD-V).
demo: $(BINS) $(GUEST)
	$(Q)tools/demo.sh $(BUILD)
# The test guest with 2 vCPUs: its console shows the PCI scan.
demo-testguest: $(BINS) $(GUEST)
	$(BUILD)/cardvisor run --guest $(GUEST) --vcpus 2 --mem 128M

clean:
	rm -rf build

# libFuzzer harnesses (docs/fuzzing.md): tests/fuzz/fuzz_NAME.c against the
# project's sources compiled again with clang's fuzzer instrumentation and
# ASan/UBSan, into $(FUZZ_BUILD) so the normal build is never touched.
# `make fuzz` runs each for FUZZ_SECONDS on a scratch copy of its corpus.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD   ?= $(BUILD)/fuzz
# Line tables are enough for symbolized reports and build 25% faster than -g;
# tests/integration/fuzz.sh builds with -O0 elsewhere (6x faster to build).
FUZZ_OPT     ?= -O1 -gline-tables-only
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=gnu11 $(FUZZ_OPT) -Wall -Wextra -Werror -D_GNU_SOURCE -I. -pthread \
	-MMD -MP $(FUZZ_SAN)
FUZZ_SRCS    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS    := $(FUZZ_SRCS:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_LIBSRC  := $(LIB_SRCS) $(HV_SRCS) $(EBS_SRCS) $(VPC_SRCS) $(CARDLIB_SRCS) $(STORAGED_SRCS)
FUZZ_OBJS    := $(FUZZ_LIBSRC:%.c=$(FUZZ_BUILD)/obj/%.o)
# The same archives as LIBS, in the same order; tests/fuzz/fuzz.c goes first
# so its logging replaces tools/lib/log.c.
FUZZ_LIBS    := $(patsubst $(BUILD)/%,$(FUZZ_BUILD)/%,$(LIBS))

# The library sources need only coverage (fuzzer-no-link); the harnesses
# get libFuzzer's main at link time.  The flags live here, hence Makefile.
$(FUZZ_BUILD)/obj/%.o: %.c Makefile
	$(call msg,FUZZCC,$<)
	$(Q)mkdir -p $(@D) && $(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
$(FUZZ_BUILD)/libcv.a: $(LIB_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
$(FUZZ_BUILD)/libhv.a: $(HV_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
$(FUZZ_BUILD)/libebs.a: $(EBS_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
$(FUZZ_BUILD)/libvpc.a: $(VPC_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
$(FUZZ_BUILD)/libcards.a: $(CARDLIB_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
$(FUZZ_BUILD)/libstoraged.a: $(STORAGED_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
$(LIBS) $(FUZZ_LIBS):
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^
$(FUZZ_BINS): $(FUZZ_BUILD)/%: $(FUZZ_BUILD)/obj/tests/fuzz/%.o \
		$(FUZZ_BUILD)/obj/tests/fuzz/fuzz.o $(FUZZ_LIBS)
	$(call msg,FUZZLD,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz-build: $(FUZZ_BINS)
# One line per harness; non-zero if any crashed (its input is left in
# $(FUZZ_BUILD)/crashes/NAME/).
fuzz: fuzz-build
	$(Q)tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

-include $(LIB_OBJS:.o=.d) $(HV_OBJS:.o=.d) $(EBS_OBJS:.o=.d) $(VPC_OBJS:.o=.d) \
	$(CARDLIB_OBJS:.o=.d) \
	$(STORAGED_OBJS:.o=.d) $(TTOOL_SRCS:%.c=$(BUILD)/%.d) $(BENCH_SRCS:%.c=$(BUILD)/%.d) \
	$(BUILD)/tools/storaged/main.d $(BUILD)/cards/ebs/main.d $(BUILD)/cards/vpc/main.d $(FIXTURE_OBJS:.o=.d) $(GUEST_OBJS:.o=.d) $(UNIT_SRCS:%.c=$(BUILD)/%.d) \
	$(BUILD)/hv/main.d $(BUILD)/tools/cardvisor.d $(BUILD)/tools/cardvisor_fleet.d \
	$(FUZZ_OBJS:.o=.d) $(FUZZ_SRCS:%.c=$(FUZZ_BUILD)/obj/%.d) \
	$(FUZZ_BUILD)/obj/tests/fuzz/fuzz.d
