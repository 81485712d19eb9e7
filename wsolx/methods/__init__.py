"""wsolx.methods"""
