"""The evaluators' review page: a review store beside the results store, queues, one letter, corrections."""
