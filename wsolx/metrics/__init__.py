"""wsolx.metrics"""
