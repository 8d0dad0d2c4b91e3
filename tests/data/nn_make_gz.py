# Generates the small gzip/IDX test vectors used by tests/test_data.c (run once with
# /usr/bin/python3; the outputs are committed). Block types are forced with zlib strategies.
import zlib, struct, random
def gz(data, level, strategy=zlib.Z_DEFAULT_STRATEGY):
    c = zlib.compressobj(level, zlib.DEFLATED, 31, 9, strategy)
    return c.compress(data) + c.flush()
def idx(arr_dims, data):
    return bytes([0, 0, 8, len(arr_dims)]) + b''.join(struct.pack('>I', d) for d in arr_dims) + bytes(data)
# 5 images of 3x4: image k pixel (y,x) = 10*k + 4*y + x ; labels 0..4 reversed
imgs = idx([5, 3, 4], [(10 * k + 4 * y + x) for k in range(5) for y in range(3) for x in range(4)])
labels = idx([5], [4, 3, 2, 1, 0])
open('nn_images.idx', 'wb').write(imgs)
open('nn_labels.idx', 'wb').write(labels)
open('nn_images_stored.gz', 'wb').write(gz(imgs, 0))
open('nn_labels_fixed.gz', 'wb').write(gz(labels, 9, zlib.Z_FIXED))
# dynamic Huffman: skewed text long enough that zlib chooses a dynamic block
random.seed(1)
text = ''.join(random.choice('aaaaaaabbbbccd \n') for _ in range(3000)).encode()
open('nn_text_dynamic.gz', 'wb').write(gz(text, 9))
open('nn_text.txt', 'wb').write(text)
