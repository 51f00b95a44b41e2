"""Train a 64-128-10 ReLU network on the handwritten digits bundled with scikit-learn."""

import time

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import chainrule as cr

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)

net = cr.Network.from_sizes([64, 128, 10], activation="relu", seed=0)
start = time.perf_counter()
history = cr.fit(
    net,
    X_train,
    y_train,
    epochs=30,
    batch_size=32,
    optimizer="adam",
    lr=1e-3,
    validation_data=(X_test, y_test),
)
seconds = time.perf_counter() - start
for epoch in range(0, history.epochs, 5):
    print(
        f"epoch {epoch + 1:2d}  loss {history['loss'][epoch]:.4f}  "
        f"val_loss {history['val_loss'][epoch]:.4f}  val_accuracy {history['val_accuracy'][epoch]:.4f}"
    )
result = net.evaluate(X_test, y_test)
print(f"test accuracy {result['accuracy']:.4f}, test loss {result['loss']:.4f}, trained in {seconds:.2f} s")
