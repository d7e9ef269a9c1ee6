/* SPDX-License-Identifier: Apache-2.0 */
/* The vfu_testdev function as its tests see it: IDs and the BAR0 layout. */
#ifndef CV_TESTS_VFU_TESTDEV_H
#define CV_TESTS_VFU_TESTDEV_H

#define TD_VENDOR   0x1b36
#define TD_DEVICE   0x00fe
#define TD_CLASS    0xff0000u  /* unclassified */
#define TD_REVISION 7
#define TD_VECTORS  2

#define TD_BAR0_SIZE 0x4000
/* BAR0 registers, 32-bit each. */
#define TD_SCRATCH0         0x000  /* read/write */
#define TD_SCRATCH1         0x004  /* read/write */
#define TD_DOORBELLS        0x008  /* doorbell writes seen, however they came */
#define TD_DOORBELLS_SOCKET 0x00c  /* of those, the ones that came over the socket */
#define TD_DMA_ADDR_LO      0x010
#define TD_DMA_ADDR_HI      0x014
#define TD_DMA_LEN          0x018
#define TD_DMA_GO           0x01c  /* write: CRC32C of guest [addr, addr + len) */
#define TD_DMA_RESULT       0x020
#define TD_DMA_STATUS       0x024  /* 0 done, 1 not mapped */
#define TD_IRQ              0x028  /* write a vector number: vfio_server_irq() */
#define TD_IRQ_RESULT       0x02c  /* what it returned (negative errno) */
#define TD_RESETS           0x030  /* reset callbacks so far */
#define TD_DOORBELL_TRAPPED 0x034  /* read/write: 1 withdraws the doorbell's ioeventfd */
#define TD_DOORBELL         0x1000 /* an ioeventfd, any 32-bit value */
#define TD_MSIX_TABLE       0x2000
#define TD_MSIX_PBA         0x3000

#endif /* CV_TESTS_VFU_TESTDEV_H */
