/* ops/kernels/pad_mode.h — the padding modes, shared by the pad kernel, the pad op and
 * convolution's padding_mode. A leaf header: ops/shape.h (public) and kernels/pad.h include it,
 * so the kernel does not depend on the op layer. */
#ifndef TG_KERNEL_PAD_MODE_H
#define TG_KERNEL_PAD_MODE_H

typedef enum tg_pad_mode { TG_PAD_CONSTANT, TG_PAD_REFLECT, TG_PAD_REPLICATE, TG_PAD_CIRCULAR } tg_pad_mode;

#endif
