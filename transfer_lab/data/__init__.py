"""Datasets of the study. A dataset is a `ClassImages`: uint8 train and val images of every class,
plus the class table (names, natural flags) that splits are made from."""
