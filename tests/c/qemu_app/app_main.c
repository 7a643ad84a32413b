/* The real application, unchanged (resolved through -I of this app folder), built without the
 * CiM HAL: this app links the fake runtime, which needs none. */
#undef CIM_BACKEND_SOFT
#undef CIM_BACKEND_MAILBOX
#include "../../../firmware/app/main.c"
