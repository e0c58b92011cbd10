/*
 * int weft_test_check_callee_saved(void (*fn)(void*), void* arg)
 *   Loads rbx, rbp and r12-r15 with known patterns, calls fn(arg) (which may
 *   switch fibers any number of times), and returns a bit mask of the
 *   registers whose pattern did not survive: bit 0 rbx, 1 rbp, 2 r12, 3 r13,
 *   4 r14, 5 r15. `seed` varies the patterns so two fibers differ.
 */
        .text
        .globl  weft_test_check_callee_saved
        .type   weft_test_check_callee_saved, @function
weft_test_check_callee_saved:
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        subq    $8, %rsp
        movq    %rdi, %rax
        movq    %rsi, %rdi
        movq    %rdx, %rbx
        leaq    1(%rdx), %rbp
        leaq    2(%rdx), %r12
        leaq    3(%rdx), %r13
        leaq    4(%rdx), %r14
        leaq    5(%rdx), %r15
        movq    %rdx, (%rsp)
        callq   *%rax
        movq    (%rsp), %rdx
        xorl    %eax, %eax
        cmpq    %rdx, %rbx
        je      1f
        orl     $1, %eax
1:      leaq    1(%rdx), %rcx
        cmpq    %rcx, %rbp
        je      2f
        orl     $2, %eax
2:      leaq    2(%rdx), %rcx
        cmpq    %rcx, %r12
        je      3f
        orl     $4, %eax
3:      leaq    3(%rdx), %rcx
        cmpq    %rcx, %r13
        je      4f
        orl     $8, %eax
4:      leaq    4(%rdx), %rcx
        cmpq    %rcx, %r14
        je      5f
        orl     $16, %eax
5:      leaq    5(%rdx), %rcx
        cmpq    %rcx, %r15
        je      6f
        orl     $32, %eax
6:      addq    $8, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        retq
        .size   weft_test_check_callee_saved, .-weft_test_check_callee_saved

        .section .note.GNU-stack, "", @progbits
