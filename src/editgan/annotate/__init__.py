"""Annotation: a bundle's annotated GAN samples and what is done with them.

    store         the annotation set on disk (`AnnotationSet`: latents, painted maps, tunings)
    scheme        creating and editing a bundle's label scheme without reinterpreting stored maps
    suggest       which GAN sample to annotate next
    training      training the segmenter from the set (held-out IoU) and installing it
    transfer      exporting and importing annotation sets (folder or zip)
    image_folder  annotated image files -> w+ (embedded) for segmenter training
"""
