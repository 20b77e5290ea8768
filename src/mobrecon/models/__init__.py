"""Network modules of MobRecon: spiral convolutions, the 3D decoder, feature lifting, pose pooling."""
