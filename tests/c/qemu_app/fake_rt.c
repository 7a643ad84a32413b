/* The host tests' fake runtime, compiled for the board. */
#include "../fake_runtime.c"
