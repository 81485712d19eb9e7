"""wsolx.engine"""
