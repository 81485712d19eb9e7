"""wsolx.data"""
