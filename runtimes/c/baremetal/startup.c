/*
 * Minimal start-up for edgekit's bare-metal harness images on Arm's MPS2 boards under
 * qemu-system-arm (mps2-an385 = Cortex-M3, mps2-an386 = Cortex-M4, mps2-an500 = Cortex-M7).
 *
 * Reset: copy .data from flash, zero .bss, enable the FPU when the code uses one, open the
 * semihosting handles (stdin/stdout/files reach the host), fetch the command line qemu was given
 * (-semihosting-config ...,arg=harness,arg=--count,arg=2), run main() with it and exit() with its
 * status, which ends qemu with that exit code. Any fault ends it with status 99 instead of hanging.
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

#define SYS_GET_CMDLINE 0x15
#define MAX_ARGS 8

/* The semihosting command line, split at spaces into argv (argv[0] is always "harness"). */
static int command_line(char **argv) {
    static char text[256];
    static char name[] = "harness";
    struct { char *buffer; int size; } block = {text, (int)sizeof text - 1};
    register int operation __asm__("r0") = SYS_GET_CMDLINE;
    register void *parameter __asm__("r1") = &block;
    __asm volatile("bkpt 0xab" : "+r"(operation) : "r"(parameter) : "memory");
    int argc = 0;
    argv[argc++] = name;
    if (operation != 0) return argc; /* no command line: no arguments */
    text[block.size] = '\0';
    /* The first word names the program (the arg= list's first, else the -kernel image): skip it. */
    strtok(text, " ");
    for (char *word = strtok(0, " "); word && argc < MAX_ARGS; word = strtok(0, " ")) argv[argc++] = word;
    argv[argc] = 0;
    return argc;
}

void reset_handler(void);
void reset_handler(void) {
    memcpy(&__data_start, &__data_load, (size_t)((char *)&__data_end - (char *)&__data_start));
    memset(&__bss_start, 0, (size_t)((char *)&__bss_end - (char *)&__bss_start));
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: full access to CP10 and CP11 */
    __asm volatile("dsb\n\tisb");
#endif
    initialise_monitor_handles();
    char *argv[MAX_ARGS + 1] = {0};
    int argc = command_line(argv);
    exit(main(argc, argv));
}

static void fault(void) { exit(99); }

/* Initial stack pointer, then the reset handler and the fault handlers the core may take. */
__attribute__((section(".vectors"), used)) static const void *const vectors[16] = {
    &__stack_top, (void *)reset_handler, (void *)fault, (void *)fault, (void *)fault, (void *)fault,
    (void *)fault, 0, 0, 0, 0, (void *)fault, (void *)fault, 0, (void *)fault, (void *)fault,
};
