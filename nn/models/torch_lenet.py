# The same LeNet-5 in PyTorch 1.13 for the side-by-side images/s figure (run with /usr/bin/python3):
#   /usr/bin/python3 nn/models/torch_lenet.py [--epochs E] [--batches N]
# One thread, batch 64, SGD lr 0.02 momentum 0.9, Fashion-MNIST normalised like tg train.
import argparse, gzip, time, numpy as np, torch, torch.nn as nn
ap = argparse.ArgumentParser()
ap.add_argument('--epochs', type=int, default=2)
ap.add_argument('--batches', type=int, default=0, help='stop each epoch after N batches (timing only)')
ap.add_argument('--data', default='/usr/share/datasets/fashion-mnist')
a = ap.parse_args()
torch.set_num_threads(1)
torch.manual_seed(42)
def load(kind):
    x = np.frombuffer(gzip.open(f'{a.data}/{kind}-images-idx3-ubyte.gz').read()[16:], np.uint8)
    y = np.frombuffer(gzip.open(f'{a.data}/{kind}-labels-idx1-ubyte.gz').read()[8:], np.uint8)
    x = (torch.tensor(x.reshape(-1, 1, 28, 28), dtype=torch.float32) / 255 - 0.2860) / 0.3530
    return x, torch.tensor(y, dtype=torch.int64)
xtr, ytr = load('train'); xte, yte = load('t10k')
net = nn.Sequential(nn.Conv2d(1, 20, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
                    nn.Conv2d(20, 50, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
                    nn.Linear(2450, 500), nn.ReLU(), nn.Linear(500, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.02, momentum=0.9)
lossf = nn.CrossEntropyLoss()
imgs, secs = 0, 0.0
for epoch in range(a.epochs):
    perm = torch.randperm(len(xtr)); t0 = time.time(); n = 0
    for i in range(0, len(xtr) - 63, 64):
        idx = perm[i:i + 64]
        opt.zero_grad(); loss = lossf(net(xtr[idx]), ytr[idx]); loss.backward(); opt.step()
        n += 64
        if a.batches and n >= 64 * a.batches: break
    dt = time.time() - t0; imgs += n; secs += dt
    with torch.no_grad():
        acc = (net(xte).argmax(1) == yte).float().mean().item()
    print(f'epoch {epoch + 1} test_acc {acc:.4f} img/s {n / dt:.1f}', flush=True)
print(f'train_img_per_s {imgs / secs:.1f}')
