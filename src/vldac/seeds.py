"""Which episode seeds are for what, so that training never plays an evaluation episode.

    [0, TRAINING_SEED_LIMIT)                training episodes and SFT demonstrations
    [EVAL_SEED_START, ...)                  held out: vldac eval, vldac bench's card worlds,
                                            pre-flight checks; the worlds with fixed task lists
                                            (ALFWorld, WebShop) play their held-out tasks here
    [VALIDATION_SEED_START, ...)            greedy validation during training (apart from eval's)
"""

TRAINING_SEED_LIMIT = 1_000_000
EVAL_SEED_START = TRAINING_SEED_LIMIT
VALIDATION_SEED_START = 2_000_000
