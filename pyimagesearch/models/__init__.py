"""Networks: SmallerVGGNet, the colour-and-shape network, the MLP, pretrained backbones, heads and layers."""
