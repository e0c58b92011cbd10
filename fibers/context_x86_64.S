/*
 * The x86-64 context switch and the first frame of every fiber.
 *
 * A suspended context is just its stack pointer. At that address lies a
 * 64-byte record, pushed by weft_context_switch or built by
 * fibers::make_initial_frame for a fiber that has never run:
 *
 *   0x00  MXCSR (4 bytes)  x87 control word (2 bytes)  padding (2 bytes)
 *   0x08  r12     0x10  r13     0x18  r14     0x20  r15
 *   0x28  rbx     0x30  rbp     0x38  resume address
 *
 * The System V ABI makes rbx, rbp and r12-r15 callee-saved, and the MXCSR
 * control bits and the x87 control word are callee-saved too; everything else
 * the compiler already assumes a call clobbers.
 *
 * Two entry points share the body and differ only in how they leave it:
 *   weft_context_switch ends in an indirect `jmp` to the resume address.
 *     For contexts that switch from many call sites (the general
 *     primitive, and weft-bench-switch's bare bounce): a `ret` would be
 *     predicted to return to the caller's own site and miss every time,
 *     while the indirect predictor learns an alternating pattern.
 *   weft_context_switch_ret ends in `ret`. For the scheduler, whose every
 *     switch but a fiber's first is made from one call site
 *     (Worker::switch_to): the address the resumed side returns to is the
 *     one the return-stack buffer holds, and the buffer stays balanced for
 *     the returns that follow. With the `jmp`, the call's entry stays on
 *     the buffer and every later return of the resumed context is predicted
 *     one frame off. Ping-pong through the scheduler: 86-93 -> 77-80 ns a
 *     round trip.
 */

        .text

/*
 * void* weft_context_switch(void** save_sp, void* load_sp, void* pass)
 * void* weft_context_switch_ret(void** save_sp, void* load_sp, void* pass)
 *   Saves the current context, stores its stack pointer in *save_sp, resumes
 *   the context whose stack pointer is load_sp, and returns `pass` there
 *   (the resumed side sees it as the return value of its own call to
 *   either, or in rax at weft_fiber_start).
 */
.macro WEFT_SWITCH name, leave
        .globl  \name
        .type   \name, @function
        .p2align 4
\name:
        .cfi_startproc
        leaq    -0x38(%rsp), %rsp
        .cfi_adjust_cfa_offset 0x38
        stmxcsr (%rsp)
        fnstcw  0x4(%rsp)
        movq    %r12, 0x08(%rsp)
        movq    %r13, 0x10(%rsp)
        movq    %r14, 0x18(%rsp)
        movq    %r15, 0x20(%rsp)
        movq    %rbx, 0x28(%rsp)
        movq    %rbp, 0x30(%rsp)

        movq    %rsp, (%rdi)
        movl    (%rsp), %eax
        movzwl  0x4(%rsp), %r8d
        movq    %rsi, %rsp

        /* Loading MXCSR and the x87 control word costs tens of cycles;
           almost every context runs with the same ones, so load only when
           they differ. */
        cmpl    (%rsp), %eax
        jne     1f
        cmpw    0x4(%rsp), %r8w
        je      2f
1:
        ldmxcsr (%rsp)
        fldcw   0x4(%rsp)
2:
        movq    0x08(%rsp), %r12
        movq    0x10(%rsp), %r13
        movq    0x18(%rsp), %r14
        movq    0x20(%rsp), %r15
        movq    0x28(%rsp), %rbx
        movq    0x30(%rsp), %rbp
        movq    %rdx, %rax
.ifc \leave, jmp
        movq    0x38(%rsp), %rcx
        leaq    0x40(%rsp), %rsp
        /* The return address is popped: the caller's CFA is rsp, and the
           address to return to lives in rcx until the jump. */
        .cfi_def_cfa_offset 0
        .cfi_register rip, rcx
        jmpq    *%rcx
.else
        leaq    0x38(%rsp), %rsp
        .cfi_adjust_cfa_offset -0x38
        ret
.endif
        .cfi_endproc
        .size   \name, .-\name
.endm

        WEFT_SWITCH weft_context_switch, jmp
        WEFT_SWITCH weft_context_switch_ret, ret

/*
 * weft_fiber_start: where a new fiber's first switch lands.
 *   r12 = argument, r13 = entry function, rax = the `pass` value of the switch.
 *   Calls entry(argument, pass); the entry never returns.
 *
 * This is the outermost frame of every fiber stack. rbp is zeroed so
 * frame-pointer unwinders (perf, gdb's fallback) stop here, and the CFI marks
 * the return address undefined so DWARF unwinders stop here too.
 */
        .globl  weft_fiber_start
        .type   weft_fiber_start, @function
        .p2align 4
weft_fiber_start:
        .cfi_startproc
        .cfi_undefined rip
        xorl    %ebp, %ebp
        movq    %r12, %rdi
        movq    %rax, %rsi
        callq   *%r13
        /* The return address of every fiber's outermost frame (see
           weft::is_fiber_entry); the entry never returns. */
        .globl  weft_fiber_start_return
weft_fiber_start_return:
        ud2
        .cfi_endproc
        .size   weft_fiber_start, .-weft_fiber_start

        .section .note.GNU-stack, "", @progbits
