"""The demo register's districts and name pools, shared by the register generator (:mod:`engine.pipeline.demo`)
and the plan stage's inspector directory (:mod:`engine.pipeline.demo_plan`)."""

from __future__ import annotations

# Region code -> (district name, city short form used in document numbers, city name).
REGIONS = {
    "350502": ("鲤城区", "泉", "泉州"),
    "350503": ("丰泽区", "泉", "泉州"),
    "350504": ("洛江区", "泉", "泉州"),
    "350505": ("泉港区", "泉", "泉州"),
    "350521": ("惠安县", "泉", "泉州"),
    "350524": ("安溪县", "泉", "泉州"),
    "350526": ("德化县", "泉", "泉州"),
    "350581": ("石狮市", "泉", "泉州"),
    "350582": ("晋江市", "泉", "泉州"),
    "350583": ("南安市", "泉", "泉州"),
    "350102": ("鼓楼区", "榕", "福州"),
    "350103": ("台江区", "榕", "福州"),
    "350104": ("仓山区", "榕", "福州"),
    "350111": ("晋安区", "榕", "福州"),
    "350203": ("思明区", "厦", "厦门"),
    "350205": ("海沧区", "厦", "厦门"),
    "350206": ("湖里区", "厦", "厦门"),
}

SURNAMES = "陈林黄张李王吴刘蔡杨郑许洪苏庄施谢曾郭何周徐叶朱高傅卢方潘邱江余胡颜戴柯"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志峰辉鑫荣斌婷雪晓文俊毅宏福清泉金水"
