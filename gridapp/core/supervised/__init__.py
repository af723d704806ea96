"""Supervised GRN inference: models trained on known TF–target pairs (DeepDRIM, scGREAT).

``pairs`` builds labelled pair sets (BEELINE splits, a TF-aware split, negatives from the same TFs);
``images`` turns gene pairs into DeepDRIM's joint-expression images. The models need PyTorch, an
optional extra (``requirements-ml.txt``).
"""
