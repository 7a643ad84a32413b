/* Which ops this firmware build links (docs/runtime.md). The firmware build passes the model's ops:
 *   -DCIM_OPS_SELECTED -DCIM_USE_CONV_2D=1 -DCIM_USE_SOFTMAX=1 ...
 * and every op not listed drops out of the kernel table (its kernel is then unreferenced and removed
 * by --gc-sections). Without CIM_OPS_SELECTED all ops are linked. */
#ifndef CIM_OPS_SELECT_H
#define CIM_OPS_SELECT_H

#ifndef CIM_OPS_SELECTED
#define CIM_USE_CONV_2D 1
#define CIM_USE_DEPTHWISE_CONV_2D 1
#define CIM_USE_FULLY_CONNECTED 1
#define CIM_USE_AVERAGE_POOL_2D 1
#define CIM_USE_MAX_POOL_2D 1
#define CIM_USE_ADD 1
#define CIM_USE_MUL 1
#define CIM_USE_RESHAPE 1
#define CIM_USE_SOFTMAX 1
#define CIM_USE_PAD 1
#define CIM_USE_CONCATENATION 1
#define CIM_USE_MEAN 1
#define CIM_USE_LOGISTIC 1
#define CIM_USE_QUANTIZE 1
#define CIM_USE_DEQUANTIZE 1
#define CIM_USE_SVDF 1
#endif
#ifndef CIM_USE_CONV_2D
#define CIM_USE_CONV_2D 0
#endif
#ifndef CIM_USE_DEPTHWISE_CONV_2D
#define CIM_USE_DEPTHWISE_CONV_2D 0
#endif
#ifndef CIM_USE_FULLY_CONNECTED
#define CIM_USE_FULLY_CONNECTED 0
#endif
#ifndef CIM_USE_AVERAGE_POOL_2D
#define CIM_USE_AVERAGE_POOL_2D 0
#endif
#ifndef CIM_USE_MAX_POOL_2D
#define CIM_USE_MAX_POOL_2D 0
#endif
#ifndef CIM_USE_ADD
#define CIM_USE_ADD 0
#endif
#ifndef CIM_USE_MUL
#define CIM_USE_MUL 0
#endif
#ifndef CIM_USE_RESHAPE
#define CIM_USE_RESHAPE 0
#endif
#ifndef CIM_USE_SOFTMAX
#define CIM_USE_SOFTMAX 0
#endif
#ifndef CIM_USE_PAD
#define CIM_USE_PAD 0
#endif
#ifndef CIM_USE_CONCATENATION
#define CIM_USE_CONCATENATION 0
#endif
#ifndef CIM_USE_MEAN
#define CIM_USE_MEAN 0
#endif
#ifndef CIM_USE_LOGISTIC
#define CIM_USE_LOGISTIC 0
#endif
#ifndef CIM_USE_QUANTIZE
#define CIM_USE_QUANTIZE 0
#endif
#ifndef CIM_USE_DEQUANTIZE
#define CIM_USE_DEQUANTIZE 0
#endif
#ifndef CIM_USE_SVDF
#define CIM_USE_SVDF 0
#endif

#endif /* CIM_OPS_SELECT_H */
