"""Writes the sample .npy files tests/test_npy.c loads (run with /usr/bin/python3; numpy 1.24).
They pin tapegrad's reader and writer to what numpy itself writes."""
import numpy as np

np.save('f32_2x3.npy', np.array([[1.5, -2, 3], [4, 5.25, -6]], dtype=np.float32))
np.save('f64_scalar.npy', np.array(-0.125, dtype=np.float64))
np.save('i64_4.npy', np.array([0, 3, -1, 2**40], dtype=np.int64))
np.save('i32_3.npy', np.array([7, -8, 9], dtype=np.int32))
np.save('u8_2x2.npy', np.array([[0, 255], [1, 128]], dtype=np.uint8))
np.save('f32_empty_0x3.npy', np.zeros((0, 3), dtype=np.float32))
np.save('f32_big_endian.npy', np.array([1, 2], dtype='>f4'))
np.save('f32_fortran.npy', np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
np.save('f16.npy', np.array([1, 2], dtype=np.float16))
with open('f64_v2_3.npy', 'wb') as f:
    np.lib.format.write_array(f, np.array([1.0, 2.0, 3.0]), version=(2, 0))
