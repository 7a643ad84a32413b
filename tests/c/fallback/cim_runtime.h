/* Test-only copy of the runtime API (the real header is firmware/runtime/cim_runtime.h);
 * used only while the runtime has not landed, via the include path order of the tests. */
#ifndef CIM_RUNTIME_H
#define CIM_RUNTIME_H
#include <stdint.h>
int cim_rt_load(const uint8_t *image, uint32_t size);
int8_t *cim_rt_input(uint32_t *size);
const int8_t *cim_rt_output(uint32_t *size);
int8_t *cim_rt_input_at(uint32_t index, uint32_t *size);
const int8_t *cim_rt_output_at(uint32_t index, uint32_t *size);
int cim_rt_invoke(void);
uint32_t cim_rt_arena_used(void);
uint32_t cim_rt_reset_state(void);
uint32_t cim_rt_state_bytes(void);
#endif
