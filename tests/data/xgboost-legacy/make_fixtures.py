"""How the legacy-binary fixtures here were made: XGBoost 1.7.6 (the last release line that writes
the legacy binary format), NumPy < 2. Not run by the tests; rerun only to remake the files:

    python -m venv /tmp/xgb17 && /tmp/xgb17/bin/pip install "numpy<2" scipy xgboost==1.7.6
    /tmp/xgb17/bin/python tests/data/xgboost-legacy/make_fixtures.py

Each model.bin comes with rows.npz: the sample (with labels), held-out rows, and what XGBoost 1.7.6's
own predict gave on the held-out rows.
"""

from pathlib import Path

import numpy as np
import xgboost

HERE = Path(__file__).parent
rng = np.random.default_rng(5)
X = rng.normal(size=(1400, 5)).astype(np.float32)
X[rng.random(X.shape) < 0.08] = np.nan
signal = np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2])
MODELS = {
    "binary-logistic": ({"objective": "binary:logistic", "max_depth": 4, "base_score": 0.3}, (signal > 0).astype(int)),
    "multi-softprob": ({"objective": "multi:softprob", "num_class": 3, "max_depth": 3},
                       np.digitize(signal, np.quantile(signal, [1 / 3, 2 / 3]))),
    "count-poisson": ({"objective": "count:poisson", "max_depth": 3}, np.round(np.exp(signal / 2))),
}
for name, (params, labels) in MODELS.items():
    booster = xgboost.train(params, xgboost.DMatrix(X[:1000], labels[:1000]), num_boost_round=15)
    booster.save_model(str(HERE / f"{name}.bin"))  # not .json/.ubj: XGBoost 1.7 writes the legacy binary format
    held_out = X[1200:]
    np.savez_compressed(HERE / f"{name}.npz", sample_X=X[1000:1200], sample_y=labels[1000:1200],
                        held_out_X=held_out, expected=booster.predict(xgboost.DMatrix(held_out)))
    print(name, (HERE / f"{name}.bin").read_bytes()[:4])
