/*
 * Minimal start-up for edgekit's bare-metal harness images on Arm's MPS2 boards under
 * qemu-system-arm (mps2-an385 = Cortex-M3, mps2-an386 = Cortex-M4, mps2-an500 = Cortex-M7).
 *
 * Reset: copy .data from flash, zero .bss, enable the FPU when the code uses one, open the
 * semihosting handles (stdin/stdout/files reach the host), run main() and exit() with its status,
 * which ends qemu with that exit code. Any fault ends it with status 99 instead of hanging.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_top;
extern int main(int argc, char **argv);
extern void initialise_monitor_handles(void);

/* newlib's start-up would provide these; -nostartfiles leaves them to us. */
void _init(void);
void _fini(void);
void _init(void) {}
void _fini(void) {}

void reset_handler(void);
void reset_handler(void) {
    memcpy(&__data_start, &__data_load, (size_t)((char *)&__data_end - (char *)&__data_start));
    memset(&__bss_start, 0, (size_t)((char *)&__bss_end - (char *)&__bss_start));
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: full access to CP10 and CP11 */
    __asm volatile("dsb\n\tisb");
#endif
    initialise_monitor_handles();
    static char name[] = "harness";
    char *argv[] = {name, 0};
    exit(main(1, argv));
}

static void fault(void) { exit(99); }

/* Initial stack pointer, then the reset handler and the fault handlers the core may take. */
__attribute__((section(".vectors"), used)) static const void *const vectors[16] = {
    &__stack_top, (void *)reset_handler, (void *)fault, (void *)fault, (void *)fault, (void *)fault,
    (void *)fault, 0, 0, 0, 0, (void *)fault, (void *)fault, 0, (void *)fault, (void *)fault,
};
